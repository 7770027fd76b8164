{{/*
The GOVAULT_* environment of one process (dict "root" $ "component" "auth"), as CONTRIBUTING.md
lists it. Credentials come from Secrets (secretKeyRef), never inline. Extra variables (`env`,
then the process's own `env`) are merged over the chart's, so any setting can be overridden.
*/}}
{{- define "govault.env" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $name := .component -}}
{{- $c := index $v $name -}}
{{- $env := dict
      "GOVAULT_LISTEN_HOST" "0.0.0.0"
      "GOVAULT_METRICS_PORT" $c.metricsPort
      "GOVAULT_LOG_LEVEL" $v.logLevel
      "GOVAULT_SHUTDOWN_GRACE_S" $v.shutdownGraceSeconds -}}
{{- if ne $name "auth" -}}{{/* auth makes no outbound call: nothing for it to time out */}}
{{- $_ := set $env "GOVAULT_RPC_TIMEOUT_S" $v.rpcTimeoutSeconds -}}
{{- end -}}
{{- $secrets := dict -}}
{{/* every process: the services check it on internal RPCs; the edge presents it on auth Login,
     the one RPC that trusts the client address it is told (login throttling) */}}
{{- $_ := set $secrets "GOVAULT_SERVICE_TOKEN" (dict "item" $v.serviceToken "chartKey" "service-token" "existingKey" "existingSecretKey") -}}
{{- if eq $name "edge" -}}
{{- $_ := set $env "GOVAULT_EDGE_PORT" $c.port -}}
{{- $_ := set $env "GOVAULT_DRAIN_S" $c.drainSeconds -}}
{{- range $upstream := list "auth" "upload" "files" -}}
{{- $_ := set $env (printf "GOVAULT_%s_ADDR" (upper $upstream)) (include "govault.grpcTarget" (dict "root" $root "component" $upstream)) -}}
{{- end -}}
{{- $_ := set $env "GOVAULT_TRUST_FORWARDED_FOR" $c.trustForwardedFor -}}
{{- with $c.corsOrigins -}}
{{- $_ := set $env "GOVAULT_CORS_ORIGINS" (join "," .) -}}
{{- end -}}
{{- if or $v.redis.url $v.redis.existingSecret -}}
{{- $_ := set $secrets "GOVAULT_REDIS_URL" (dict "item" $v.redis "chartKey" "redis-url" "existingKey" "existingSecretKey") -}}
{{- end -}}
{{- else -}}
{{- $_ := set $env "GOVAULT_GRPC_PORT" $c.grpcPort -}}
{{- $_ := set $env "GOVAULT_DB_POOL_MIN" $c.dbPool.min -}}
{{- $_ := set $env "GOVAULT_DB_POOL_MAX" $c.dbPool.max -}}
{{- $_ := set $secrets "GOVAULT_DATABASE_URL" (dict "item" (index $v.database $name) "chartKey" (printf "%s-database-url" $name) "existingKey" "existingSecretKey") -}}
{{- end -}}
{{- if eq $name "auth" -}}
{{- $_ := set $env "GOVAULT_JWT_PRIVATE_KEY_FILE" "/var/run/secrets/govault/jwt/jwt-ed25519.pem" -}}
{{- $_ := set $env "GOVAULT_HASH_WORKERS" $c.hashWorkers -}}
{{- end -}}
{{- if or (eq $name "upload") (eq $name "files") -}}
{{- $_ := set $env "GOVAULT_AUTH_ADDR" (include "govault.grpcTarget" (dict "root" $root "component" "auth")) -}}
{{- $_ := set $env "GOVAULT_S3_ENDPOINT" (required "set s3.endpoint (the S3 URL the services use)" $v.s3.endpoint) -}}
{{- $_ := set $env "GOVAULT_S3_PUBLIC_ENDPOINT" (default $v.s3.endpoint $v.s3.publicEndpoint) -}}
{{- $_ := set $env "GOVAULT_S3_BUCKET" $v.s3.bucket -}}
{{- $_ := set $env "GOVAULT_S3_REGION" $v.s3.region -}}
{{- $_ := set $secrets "GOVAULT_S3_ACCESS_KEY" (dict "item" $v.s3 "chartKey" "s3-access-key" "existingKey" "accessKeyKey") -}}
{{- $_ := set $secrets "GOVAULT_S3_SECRET_KEY" (dict "item" $v.s3 "chartKey" "s3-secret-key" "existingKey" "secretKeyKey") -}}
{{- end -}}
{{- if eq $name "upload" -}}
{{- $_ := set $env "GOVAULT_FILES_ADDR" (include "govault.grpcTarget" (dict "root" $root "component" "files")) -}}
{{- $_ := set $env "GOVAULT_S3_CREATE_BUCKET" $v.s3.createBucket -}}
{{- end -}}
{{- if eq $name "files" -}}
{{- with include "govault.publicBaseUrl" $root -}}
{{- $_ := set $env "GOVAULT_PUBLIC_BASE_URL" . -}}
{{- end -}}
{{- end -}}
{{- range $key, $value := merge (dict) $c.env $v.env -}}
{{- $_ := set $env $key $value -}}
{{- $_ := unset $secrets $key -}}
{{- end -}}
{{- range $key, $value := $env }}
- name: {{ $key }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- range $key, $ref := $secrets }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      {{- include "govault.secretKeyRef" (merge (dict "root" $root) $ref) | nindent 6 }}
{{- end }}
{{- end -}}
