//! Distinguished names compared by structure, never as display strings:
//! a policy's `x509.subject: …` is parsed with RFC 4514 escaping into
//! (attribute OID, value) pairs, and a certificate's subject is read from its
//! DER RDNs, so a value holding a separator (`CN="dev, CN=release"`) can never
//! pass for another attribute.

use std::fmt;

use x509_parser::x509::X509Name;

/// One attribute of a name: its type as a dotted OID and its value (`None`
/// when the certificate's value is not a string nv2 can read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub oid: String,
    pub value: Option<String>,
}

/// A name as a flat list of attributes (multi-valued RDNs flattened).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Name {
    attributes: Vec<Attribute>,
}

/// Why a policy's distinguished name is refused.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum DnError {
    #[error("distinguished name is empty")]
    Empty,
    #[error("{0:?} is not TYPE=VALUE")]
    NotTypeValue(String),
    #[error(
        "unknown attribute type {0:?} (use C, ST, L, O, OU, CN, SERIALNUMBER, STREET, DC, UID, E, T, GN, SN, POSTALCODE or a dotted OID)"
    )]
    UnknownType(String),
    #[error("attribute {0} is listed twice (ambiguous)")]
    Duplicate(String),
    #[error("value of {0} is empty")]
    EmptyValue(String),
    #[error("value of {0} has an unescaped {1:?} (escape it with a backslash)")]
    Unescaped(String, char),
    #[error(
        "value of {0} has a bad escape (\\ must precede a special character or two hex digits)"
    )]
    BadEscape(String),
    #[error("value of {0} is not UTF-8 after unescaping")]
    NotUtf8(String),
    #[error("value of {0}: #hex (BER) values are not supported")]
    HexValue(String),
}

/// Attribute type names of RFC 4514 and the ones Notation users write.
const TYPES: &[(&str, &str)] = &[
    ("CN", "2.5.4.3"),
    ("SN", "2.5.4.4"),
    ("SERIALNUMBER", "2.5.4.5"),
    ("C", "2.5.4.6"),
    ("L", "2.5.4.7"),
    ("ST", "2.5.4.8"),
    ("S", "2.5.4.8"),
    ("STREET", "2.5.4.9"),
    ("O", "2.5.4.10"),
    ("OU", "2.5.4.11"),
    ("T", "2.5.4.12"),
    ("TITLE", "2.5.4.12"),
    ("POSTALCODE", "2.5.4.17"),
    ("GN", "2.5.4.42"),
    ("GIVENNAME", "2.5.4.42"),
    ("DC", "0.9.2342.19200300.100.1.25"),
    ("UID", "0.9.2342.19200300.100.1.1"),
    ("E", "1.2.840.113549.1.9.1"),
    ("EMAILADDRESS", "1.2.840.113549.1.9.1"),
];

fn oid_of(name: &str) -> Option<String> {
    let upper = name.to_ascii_uppercase();
    if let Some((_, oid)) = TYPES.iter().find(|(n, _)| *n == upper) {
        return Some((*oid).to_owned());
    }
    let dotted = name.split('.').count() >= 2
        && name
            .split('.')
            .all(|arc| !arc.is_empty() && arc.bytes().all(|b| b.is_ascii_digit()));
    dotted.then(|| name.to_owned())
}

fn short_name(oid: &str) -> &str {
    TYPES
        .iter()
        .find(|(_, o)| *o == oid)
        .map_or(oid, |(n, _)| n)
}

impl Name {
    /// Parses an RFC 4514 string (`C=US, O=Acme\, Inc., CN=release`): `,` (or
    /// `;`) separates RDNs, `+` the attributes of one RDN, `\` escapes a
    /// special character or gives a byte as two hex digits; spaces around
    /// separators are ignored. An attribute type may appear once.
    pub fn parse_rfc4514(input: &str) -> Result<Self, DnError> {
        let mut attributes = Vec::new();
        for raw in split_unescaped(input.trim_start_matches(' '))? {
            let (ty, value) = raw
                .split_once('=')
                .ok_or_else(|| DnError::NotTypeValue(crate::oci::digest::shorten(raw.trim())))?;
            let ty = ty.trim();
            let oid =
                oid_of(ty).ok_or_else(|| DnError::UnknownType(crate::oci::digest::shorten(ty)))?;
            let value = unescape(value, ty)?;
            if attributes.iter().any(|a: &Attribute| a.oid == oid) {
                return Err(DnError::Duplicate(ty.to_ascii_uppercase()));
            }
            attributes.push(Attribute {
                oid,
                value: Some(value),
            });
        }
        if attributes.is_empty() {
            return Err(DnError::Empty);
        }
        Ok(Name { attributes })
    }

    /// A certificate name, attribute by attribute from its DER.
    pub fn from_x509(name: &X509Name<'_>) -> Self {
        let attributes = name
            .iter()
            .flat_map(|rdn| rdn.iter())
            .map(|attr| Attribute {
                oid: attr.attr_type().to_id_string(),
                value: attr.as_str().ok().map(str::to_owned),
            })
            .collect();
        Name { attributes }
    }

    pub fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }

    /// Whether `self` (a policy's name) is satisfied by `cert`: for every
    /// attribute type listed, the certificate has that type exactly once and
    /// with the same value. A certificate with the type twice never matches
    /// it (which of the two would count is ambiguous); unlisted types are free.
    pub fn is_satisfied_by(&self, cert: &Name) -> bool {
        self.attributes.iter().all(|want| {
            let mut have = cert.attributes.iter().filter(|a| a.oid == want.oid);
            match (have.next(), have.next()) {
                (Some(one), None) => one.value.is_some() && one.value == want.value,
                _ => false,
            }
        })
    }
}

/// RFC 4514 text: `parse_rfc4514(name.to_string())` gives `name` back.
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.attributes.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}=", short_name(&a.oid))?;
            match &a.value {
                Some(v) => f.write_str(&escape_value(v))?,
                None => f.write_str("?")?,
            }
        }
        Ok(())
    }
}

/// RFC 4514 §2.4 escaping of one value.
fn escape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let last = value.chars().count().saturating_sub(1);
    for (i, c) in value.chars().enumerate() {
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '#' if i == 0 => out.push_str("\\#"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// Splits at unescaped `,`, `;` and `+` (RDN and multi-valued RDN
/// separators alike: a policy matches attributes, not their grouping).
fn split_unescaped(input: &str) -> Result<Vec<&str>, DnError> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in input.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            ',' | ';' | '+' => {
                parts.push(&input[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if escaped {
        return Err(DnError::BadEscape("the name".into()));
    }
    parts.push(&input[start..]);
    if parts.len() == 1 && parts[0].trim().is_empty() {
        return Ok(Vec::new());
    }
    Ok(parts)
}

/// RFC 4514 §3 value unescaping; unescaped specials are refused as ambiguous.
fn unescape(value: &str, ty: &str) -> Result<String, DnError> {
    let ty_name = || ty.to_ascii_uppercase();
    // Unescaped leading and trailing spaces are not part of the value; an
    // escaped trailing space (`\ `) is.
    let mut value = value.trim_start_matches(' ');
    while let Some(rest) = value.strip_suffix(' ') {
        let backslashes = rest.bytes().rev().take_while(|&b| b == b'\\').count();
        if backslashes % 2 == 1 {
            break;
        }
        value = rest;
    }
    if value.starts_with('#') {
        return Err(DnError::HexValue(ty_name()));
    }
    let mut out = Vec::with_capacity(value.len());
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' {
            let next = *bytes
                .get(i + 1)
                .ok_or_else(|| DnError::BadEscape(ty_name()))?;
            if b"\\,+\"<>;= #".contains(&next) {
                out.push(next);
                i += 2;
                continue;
            }
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| DnError::BadEscape(ty_name()))?;
            out.push(hex);
            i += 3;
            continue;
        }
        if matches!(b, b'"' | b'=' | b'<' | b'>' | b'\0') {
            return Err(DnError::Unescaped(ty_name(), b as char));
        }
        out.push(b);
        i += 1;
    }
    if out.is_empty() {
        return Err(DnError::EmptyValue(ty_name()));
    }
    String::from_utf8(out).map_err(|_| DnError::NotUtf8(ty_name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(pairs: &[(&str, &str)]) -> Name {
        Name {
            attributes: pairs
                .iter()
                .map(|(t, v)| Attribute {
                    oid: oid_of(t).unwrap(),
                    value: Some((*v).to_owned()),
                })
                .collect(),
        }
    }

    #[test]
    fn parses_rfc4514_with_escapes() {
        let n = Name::parse_rfc4514(r"C=US, ST=WA, O=Acme\, Inc., CN=release\+1 \2C x").unwrap();
        assert_eq!(
            n,
            name(&[
                ("C", "US"),
                ("ST", "WA"),
                ("O", "Acme, Inc."),
                ("CN", "release+1 , x")
            ])
        );
        let n = Name::parse_rfc4514("CN=\\ a\\ ,O=b\\\\ ").unwrap();
        assert_eq!(n, name(&[("CN", " a "), ("O", "b\\")]));
        assert_eq!(Name::parse_rfc4514(&n.to_string()).unwrap(), n);
        let n = Name::parse_rfc4514("cn=a+o=b;2.5.4.11=c").unwrap();
        assert_eq!(n, name(&[("CN", "a"), ("O", "b"), ("OU", "c")]));
    }

    #[test]
    fn refuses_ambiguous_names() {
        for (bad, want) in [
            ("", DnError::Empty),
            ("CN", DnError::NotTypeValue("CN".into())),
            ("XX=a", DnError::UnknownType("XX".into())),
            ("CN=a, CN=b", DnError::Duplicate("CN".into())),
            ("CN=a, cn=b", DnError::Duplicate("CN".into())),
            ("CN=", DnError::EmptyValue("CN".into())),
            ("CN=a=b", DnError::Unescaped("CN".into(), '=')),
            ("CN=\"a\"", DnError::Unescaped("CN".into(), '"')),
            ("CN=a\\", DnError::BadEscape("the name".into())),
            ("CN=a\\zz", DnError::BadEscape("CN".into())),
            ("CN=#0403", DnError::HexValue("CN".into())),
            ("CN=\\ff", DnError::NotUtf8("CN".into())),
        ] {
            assert_eq!(Name::parse_rfc4514(bad), Err(want), "{bad}");
        }
    }

    #[test]
    fn a_value_holding_a_separator_is_one_value() {
        let want = Name::parse_rfc4514("CN=release.acme.example").unwrap();
        // A certificate whose single CN is "dev, CN=release.acme.example".
        let cert = name(&[("O", "Acme"), ("CN", "dev, CN=release.acme.example")]);
        assert!(!want.is_satisfied_by(&cert));
        let cert = name(&[("O", "Acme"), ("CN", "release.acme.example")]);
        assert!(want.is_satisfied_by(&cert));
    }

    #[test]
    fn a_type_twice_in_the_certificate_never_matches_it() {
        let want = Name::parse_rfc4514("CN=release").unwrap();
        assert!(!want.is_satisfied_by(&name(&[("CN", "dev"), ("CN", "release")])));
        assert!(!want.is_satisfied_by(&name(&[("CN", "release"), ("CN", "release")])));
        let want = Name::parse_rfc4514("O=Acme").unwrap();
        assert!(want.is_satisfied_by(&name(&[("CN", "dev"), ("CN", "release"), ("O", "Acme")])));
    }

    #[test]
    fn every_listed_attribute_must_match_exactly() {
        let want = Name::parse_rfc4514("O=Acme, CN=release").unwrap();
        assert!(want.is_satisfied_by(&name(&[("C", "US"), ("O", "Acme"), ("CN", "release")])));
        assert!(!want.is_satisfied_by(&name(&[("O", "Acme")])));
        assert!(!want.is_satisfied_by(&name(&[("O", "acme"), ("CN", "release")])));
        assert!(!want.is_satisfied_by(&name(&[("O", "Acme "), ("CN", "release")])));
        let unreadable = Name {
            attributes: vec![Attribute {
                oid: "2.5.4.3".into(),
                value: None,
            }],
        };
        assert!(
            !Name::parse_rfc4514("CN=x")
                .unwrap()
                .is_satisfied_by(&unreadable)
        );
    }
}
