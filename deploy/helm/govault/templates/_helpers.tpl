{{/*
Names, labels and the per-process facts every template shares.
*/}}

{{- define "govault.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "govault.fullname" -}}
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

{{/* The four processes: name → Python module; services carry a gRPC port. */}}
{{- define "govault.components" -}}
edge: edge
auth: svc_auth
upload: svc_upload
files: svc_files
{{- end -}}

{{/* Which processes call which gRPC service (the NetworkPolicy allows exactly these). */}}
{{- define "govault.callers" -}}
auth: [edge, upload, files]
upload: [edge]
files: [edge, upload]
{{- end -}}

{{/* Resource name of one process: (dict "root" $ "component" "auth"). At most 57 characters,
so "<name>-metrics" (the edge's metrics Service) still fits a 63-character DNS label. */}}
{{- define "govault.componentName" -}}
{{- printf "%s-%s" (include "govault.fullname" .root | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "govault.selectorLabels" -}}
app.kubernetes.io/name: {{ include "govault.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "govault.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "govault.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: govault
{{- end -}}

{{/* (dict "root" $ "component" "auth") */}}
{{- define "govault.componentSelectorLabels" -}}
{{ include "govault.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "govault.componentLabels" -}}
{{ include "govault.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "govault.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "govault.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "govault.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* gRPC target of a service for its clients: every pod behind the headless Service, through
DNS, so a client can balance over them. (dict "root" $ "component" "auth") */}}
{{- define "govault.grpcTarget" -}}
{{- $c := index .root.Values .component -}}
{{- printf "dns:///%s.%s.svc.%s:%v" (include "govault.componentName" .) .root.Release.Namespace .root.Values.clusterDomain $c.grpcPort -}}
{{- end -}}

{{/* The Secret the chart writes for credentials given as values. */}}
{{- define "govault.secretName" -}}
{{- include "govault.fullname" . -}}
{{- end -}}

{{/*
Credentials: each item is either a value (stored in the chart's Secret under `chartKey`) or a
reference to an existing Secret. (dict "root" $ "item" .Values.x "valueKey" "value"
"chartKey" "service-token" "existingKey" "existingSecretKey" "what" "serviceToken.value")
*/}}
{{- define "govault.secretKeyRef" -}}
{{- if .item.existingSecret -}}
name: {{ .item.existingSecret }}
key: {{ index .item .existingKey }}
{{- else -}}
name: {{ include "govault.secretName" .root }}
key: {{ .chartKey }}
{{- end -}}
{{- end -}}

{{/* Every credential the chart stores itself: chart key → value (required ones fail the
render with the value to set). */}}
{{- define "govault.secretData" -}}
{{- $v := .Values -}}
{{- if not $v.serviceToken.existingSecret }}
service-token: {{ required "set serviceToken.value (or serviceToken.existingSecret)" $v.serviceToken.value | b64enc | quote }}
{{- end }}
{{- if not $v.jwt.existingSecret }}
jwt-ed25519.pem: {{ required "set jwt.privateKey, an Ed25519 PEM key (or jwt.existingSecret)" $v.jwt.privateKey | b64enc | quote }}
{{- end }}
{{- range $name := list "auth" "upload" "files" }}
{{- $db := index $v.database $name }}
{{- if not $db.existingSecret }}
{{ $name }}-database-url: {{ required (printf "set database.%s.url (or database.%s.existingSecret)" $name $name) $db.url | b64enc | quote }}
{{- end }}
{{- end }}
{{- if not $v.s3.existingSecret }}
s3-access-key: {{ required "set s3.accessKey (or s3.existingSecret)" $v.s3.accessKey | b64enc | quote }}
s3-secret-key: {{ required "set s3.secretKey (or s3.existingSecret)" $v.s3.secretKey | b64enc | quote }}
{{- end }}
{{- if and $v.redis.url (not $v.redis.existingSecret) }}
redis-url: {{ $v.redis.url | b64enc | quote }}
{{- end }}
{{- end -}}

{{/* Base URL of public links: files.publicBaseUrl, else the first ingress host. */}}
{{- define "govault.publicBaseUrl" -}}
{{- if .Values.files.publicBaseUrl -}}
{{- .Values.files.publicBaseUrl -}}
{{- else if and .Values.ingress.enabled .Values.ingress.hosts -}}
{{- $host := (first .Values.ingress.hosts).host -}}
{{- $scheme := "http" -}}
{{- range .Values.ingress.tls -}}
{{- if has $host .hosts -}}{{- $scheme = "https" -}}{{- end -}}
{{- end -}}
{{- printf "%s://%s" $scheme $host -}}
{{- end -}}
{{- end -}}
