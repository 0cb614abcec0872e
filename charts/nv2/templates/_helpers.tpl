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
TLS material for the chart-generated mode, as YAML {ca, crt, key, previous}
with base64 values. Computed once per render and memoised, so that the
Secret, the webhook configurations' caBundle and the Deployment's checksum
agree whatever order the templates are rendered in. An existing Secret (helm
upgrade) made for the same tls.generated.rollId is reused, so the caBundle
stays stable. A new rollId makes a new CA and certificate and keeps the old
CA as `previous`: the caBundle trusts both while pods move to the new
certificate; the next upgrade drops it.
*/}}
{{- define "nv2.generatedTLS" -}}
{{- if not (hasKey .Release "nv2GeneratedTLS") -}}
{{- $secretName := include "nv2.tlsSecretName" . -}}
{{- $existing := lookup "v1" "Secret" .Release.Namespace $secretName -}}
{{- $data := dict -}}
{{- $existingRoll := "" -}}
{{- if $existing -}}
{{- $data = $existing.data | default dict -}}
{{- $existingRoll = index (($existing.metadata).annotations | default dict) "nv2.io/roll-id" | default "" -}}
{{- end -}}
{{- $roll := .Values.tls.generated.rollId | default "" -}}
{{- $complete := and (index $data "ca.crt") (index $data "tls.crt") (index $data "tls.key") -}}
{{- $material := dict -}}
{{- if and $complete (eq $existingRoll $roll) -}}
{{- $material = dict "ca" (index $data "ca.crt") "crt" (index $data "tls.crt") "key" (index $data "tls.key") "previous" "" -}}
{{- else -}}
{{- $days := int .Values.tls.generated.validityDays -}}
{{- $host := include "nv2.serviceHost" . -}}
{{- $svc := include "nv2.serviceName" . -}}
{{- $ca := genCA (printf "%s-webhook-ca" (include "nv2.fullname" .)) $days -}}
{{- $sans := list $host (printf "%s.%s" $svc .Release.Namespace) $svc (printf "%s.cluster.local" $host) -}}
{{- $cert := genSignedCert $host nil $sans $days $ca -}}
{{- $previous := "" -}}
{{- if $complete -}}
{{- $previous = index $data "ca.crt" -}}
{{- end -}}
{{- $material = dict "ca" ($ca.Cert | b64enc) "crt" ($cert.Cert | b64enc) "key" ($cert.Key | b64enc) "previous" $previous -}}
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
{{- $tls := include "nv2.generatedTLS" . | fromYaml -}}
{{- if $tls.previous -}}
{{- printf "%s%s" ($tls.ca | b64dec) ($tls.previous | b64dec) | b64enc -}}
{{- else -}}
{{- $tls.ca -}}
{{- end -}}
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
{{- $tls := include "nv2.generatedTLS" . | fromYaml -}}
{{- printf "%s|%s|%s" $tls.ca $tls.crt $tls.key | sha256sum -}}
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
  {{- if semverCompare ">=1.28-0" $root.Capabilities.KubeVersion.Version }}
  matchConditions:
    {{- include "nv2.matchConditions" $root | nindent 4 }}
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

{{/* Seconds a terminating pod gets: the preStop sleep (Kubernetes 1.30+),
the drain period, the longest review (timeoutSeconds) and 5 s of margin. */}}
{{- define "nv2.terminationGracePeriod" -}}
{{- $drain := int .Values.webhook.drainSeconds -}}
{{- $preStop := 0 -}}
{{- if semverCompare ">=1.30-0" .Capabilities.KubeVersion.Version -}}
{{- $preStop = $drain -}}
{{- end -}}
{{- add $preStop $drain (int .Values.webhook.timeoutSeconds) 5 -}}
{{- end -}}

{{/* The ConfigMap holding registry CA certificates, if any. */}}
{{- define "nv2.registryCAConfigMap" -}}
{{- if and .Values.registryCA.bundle .Values.registryCA.existingConfigMap -}}
{{- fail "registryCA.bundle and registryCA.existingConfigMap are exclusive" -}}
{{- else if .Values.registryCA.existingConfigMap -}}
{{- .Values.registryCA.existingConfigMap -}}
{{- else if .Values.registryCA.bundle -}}
{{- printf "%s-registry-ca" (include "nv2.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/*
matchConditions (Kubernetes 1.28+): the API server does not call nv2 for an
UPDATE that leaves every image-bearing list of the pod spec (initContainers,
containers, ephemeralContainers, volumes) as it was, nor for an UPDATE of an
object being deleted. nv2 would allow both (it checks only new or changed
images), so a registry outage or an image that stopped verifying never blocks
a scale-down, a rollout away from it or a finalizer removal. The conditions
only ever skip what nv2 allows; an error evaluating them falls back on
failurePolicy.
*/}}
{{- define "nv2.matchConditions" -}}
- name: not-an-update-of-an-object-being-deleted
  expression: "request.operation != 'UPDATE' || !has(oldObject.metadata.deletionTimestamp)"
- name: images-new-or-changed
  expression: >-
    request.operation != 'UPDATE' || [request.kind.kind == 'Pod' ? [object.spec, oldObject.spec] : request.kind.kind == 'CronJob' ? [object.spec.jobTemplate.spec.template.spec, oldObject.spec.jobTemplate.spec.template.spec] : [object.spec.template.spec, oldObject.spec.template.spec]].exists(s, has(s[0].initContainers) != has(s[1].initContainers) || (has(s[0].initContainers) && s[0].initContainers != s[1].initContainers) || has(s[0].containers) != has(s[1].containers) || (has(s[0].containers) && s[0].containers != s[1].containers) || has(s[0].ephemeralContainers) != has(s[1].ephemeralContainers) || (has(s[0].ephemeralContainers) && s[0].ephemeralContainers != s[1].ephemeralContainers) || has(s[0].volumes) != has(s[1].volumes) || (has(s[0].volumes) && s[0].volumes != s[1].volumes))
{{- end -}}

{{/* A duration value (8s, 1m30s, 500ms) in seconds, for PromQL. */}}
{{- define "nv2.seconds" -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9.]+(ms|s|m|h)" . -1 -}}
{{- $n := regexFind "[0-9.]+" . | float64 -}}
{{- $unit := regexFind "(ms|s|m|h)$" . -}}
{{- if eq $unit "ms" }}{{ $n = divf $n 1000 }}{{ else if eq $unit "m" }}{{ $n = mulf $n 60 }}{{ else if eq $unit "h" }}{{ $n = mulf $n 3600 }}{{ end -}}
{{- $total = addf $total $n -}}
{{- end -}}
{{- $total -}}
{{- end -}}
