{{/*
Names.
*/}}
{{- define "nv2.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nv2.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "nv2.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "nv2.selectorLabels" -}}
app.kubernetes.io/name: {{ include "nv2.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nv2.labels" -}}
helm.sh/chart: {{ include "nv2.chart" . }}
{{ include "nv2.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "nv2.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "nv2.serviceName" -}}
{{- include "nv2.fullname" . -}}
{{- end -}}

{{/* DNS name the API server uses to reach the webhook. */}}
{{- define "nv2.serviceHost" -}}
{{- printf "%s.%s.svc" (include "nv2.serviceName" .) .Release.Namespace -}}
{{- end -}}

{{- define "nv2.tlsSecretName" -}}
{{- .Values.tls.secretName | default (printf "%s-tls" (include "nv2.fullname" .)) -}}
{{- end -}}

{{- define "nv2.certificateName" -}}
{{- printf "%s-tls" (include "nv2.fullname" .) -}}
{{- end -}}

{{/*
TLS material for the chart-generated mode, as YAML {ca, crt, key} with
base64 values. Computed once per render and memoised, so that the Secret, the
webhook configurations' caBundle and the Deployment's checksum agree whatever
order the templates are rendered in. An existing Secret (helm upgrade) is
reused, so the caBundle stays stable; delete the Secret to roll it.
*/}}
{{- define "nv2.generatedTLS" -}}
{{- if not (hasKey .Release "nv2GeneratedTLS") -}}
{{- $secretName := include "nv2.tlsSecretName" . -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName -}}
{{- $data := dict -}}
{{- if $existing -}}
{{- $data = $existing.data | default dict -}}
{{- end -}}
{{- $material := dict -}}
{{- if and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") -}}
{{- $material = dict "ca" (index $data "ca.crt") "crt" (index $data "tls.crt") "key" (index $data "tls.key") -}}
{{- else -}}
{{- $days := int .Values.tls.generated.validityDays -}}
{{- $host := include "nv2.serviceHost" . -}}
{{- $svc := include "nv2.serviceName" . -}}
{{- $ca := genCA (printf "%s-webhook-ca" (include "nv2.fullname" .)) $days -}}
{{- $sans := list $host (printf "%s.%s" $svc .Release.Namespace) $svc (printf "%s.cluster.local" $host) -}}
{{- $cert := genSignedCert $host nil $sans $days $ca -}}
{{- $material = dict "ca" ($ca.Cert | b64enc) "crt" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc) -}}
{{- end -}}
{{- $_ := set .Release "nv2GeneratedTLS" $material -}}
{{- end -}}
{{- toYaml (get .Release "nv2GeneratedTLS") -}}
{{- end -}}

{{/* TLS mode: certManager | secret | generated. */}}
{{- define "nv2.tlsMode" -}}
{{- if and .Values.tls.certManager.enabled .Values.tls.secretName -}}
{{- fail "tls.certManager.enabled and tls.secretName are exclusive: cert-manager writes the Secret <fullname>-tls itself" -}}
{{- else if .Values.tls.certManager.enabled -}}
certManager
{{- else if .Values.tls.secretName -}}
secret
{{- else -}}
generated
{{- end -}}
{{- end -}}

{{/*
caBundle for the webhook configurations (base64 PEM), empty under cert-manager
(its cainjector fills it in).
*/}}
{{- define "nv2.caBundle" -}}
{{- $mode := include "nv2.tlsMode" . -}}
{{- if eq $mode "generated" -}}
{{- (include "nv2.generatedTLS" . | fromYaml).ca -}}
{{- else if eq $mode "secret" -}}
{{- $bundle := .Values.tls.caBundle -}}
{{- if not $bundle -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace .Values.tls.secretName -}}
{{- if and $existing $existing.data -}}
{{- $bundle = index $existing.data "ca.crt" | default "" -}}
{{- end -}}
{{- end -}}
{{- required "tls.secretName is set: set tls.caBundle to the base64 PEM of the CA that signed its certificate (or give the Secret a ca.crt entry)" $bundle -}}
{{- end -}}
{{- end -}}

{{/* Pod annotation value: changes whenever the serving certificate does. */}}
{{- define "nv2.tlsChecksum" -}}
{{- $mode := include "nv2.tlsMode" . -}}
{{- if eq $mode "generated" -}}
{{- include "nv2.generatedTLS" . | sha256sum -}}
{{- else if eq $mode "secret" -}}
{{- printf "%s|%s" .Values.tls.secretName (include "nv2.caBundle" .) | sha256sum -}}
{{- else -}}
{{- toJson .Values.tls.certManager | sha256sum -}}
{{- end -}}
{{- end -}}

{{/*
One webhook entry; the caller passes (dict "root" $ "name" ... "path" ...).
Rules: Pods (and their ephemeralcontainers subresource) and the pod templates
of the workload kinds; DESIGN §6.
*/}}
{{- define "nv2.webhook" -}}
{{- $root := .root -}}
- name: {{ .name }}
  admissionReviewVersions: ["v1"]
  sideEffects: None
  failurePolicy: {{ $root.Values.webhook.failurePolicy }}
  matchPolicy: Equivalent
  timeoutSeconds: {{ $root.Values.webhook.timeoutSeconds }}
  {{- if .mutating }}
  reinvocationPolicy: IfNeeded
  {{- end }}
  clientConfig:
    service:
      name: {{ include "nv2.serviceName" $root }}
      namespace: {{ $root.Release.Namespace }}
      path: {{ .path }}
      port: 443
    {{- $bundle := include "nv2.caBundle" $root }}
    {{- if $bundle }}
    caBundle: {{ $bundle }}
    {{- end }}
  namespaceSelector:
    matchExpressions:
      - key: nv2.io/ignore
        operator: DoesNotExist
      - key: kubernetes.io/metadata.name
        operator: NotIn
        values:
          {{- range (concat (list "kube-system" $root.Release.Namespace) $root.Values.webhook.excludeNamespaces | uniq) }}
          - {{ . | quote }}
          {{- end }}
      {{- if .mutating }}
      # Opt-out of digest pinning: the AdmissionReview carries no namespace
      # labels, so the mutating webhook is simply not called there. The
      # validating webhook has no such expression: those images are still
      # verified, just never rewritten.
      - key: nv2.io/pin-digests
        operator: NotIn
        values: ["false"]
      {{- end }}
  rules:
    - apiGroups: [""]
      apiVersions: ["v1"]
      resources: ["pods", "pods/ephemeralcontainers", "replicationcontrollers"]
      operations: ["CREATE", "UPDATE"]
      scope: Namespaced
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      resources: ["deployments", "replicasets", "statefulsets", "daemonsets"]
      operations: ["CREATE", "UPDATE"]
      scope: Namespaced
    - apiGroups: ["batch"]
      apiVersions: ["v1"]
      resources: ["jobs", "cronjobs"]
      operations: ["CREATE", "UPDATE"]
      scope: Namespaced
{{- end -}}
