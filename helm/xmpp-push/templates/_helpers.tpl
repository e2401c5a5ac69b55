{{/*
Names and labels, the usual way (helm create), plus the chart's own decisions: which database, which
update strategy, which secret files, and the checks that refuse a values file that cannot work.
*/}}

{{- define "xmpp-push.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "xmpp-push.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "xmpp-push.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "xmpp-push.labels" -}}
helm.sh/chart: {{ include "xmpp-push.chart" . }}
{{ include "xmpp-push.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: xmpp-push
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "xmpp-push.selectorLabels" -}}
app.kubernetes.io/name: {{ include "xmpp-push.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The server pods only: the migration Job's pod has the same name/instance labels and must not be
selected by the Service, the PodDisruptionBudget or the Deployment. */}}
{{- define "xmpp-push.serverSelectorLabels" -}}
{{ include "xmpp-push.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end }}

{{- define "xmpp-push.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "xmpp-push.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "xmpp-push.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion -}}
{{- if .Values.image.digest -}}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{/* Paths inside the container. */}}
{{- define "xmpp-push.configPath" -}}/etc/xmpp-push/config.yaml{{- end }}
{{- define "xmpp-push.secretsDir" -}}/etc/xmpp-push/secrets{{- end }}
{{- define "xmpp-push.databaseDir" -}}/etc/xmpp-push/database{{- end }}
{{- define "xmpp-push.dataDir" -}}/var/lib/xmpp-push{{- end }}

{{/* The Secret with the credentials: the chart's, or the one named by secrets.existingSecret. */}}
{{- define "xmpp-push.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "xmpp-push.fullname" .) }}
{{- end }}

{{/* "true" when the embedded database (PGlite) is used, "" otherwise. */}}
{{- define "xmpp-push.embedded" -}}
{{- if .Values.persistence.embedded.enabled }}true{{ end }}
{{- end }}

{{/* "true" when the migration hook Job runs: Postgres only, serve migrates the embedded database. */}}
{{- define "xmpp-push.migrationJob" -}}
{{- if and .Values.migrations.job.enabled (not .Values.persistence.embedded.enabled) }}true{{ end }}
{{- end }}

{{/* Where the server reads DATABASE_URL_FILE from. */}}
{{- define "xmpp-push.databaseUrlFile" -}}
{{- if .Values.database.existingSecret -}}
{{ include "xmpp-push.databaseDir" . }}/url
{{- else -}}
{{ include "xmpp-push.secretsDir" . }}/database-url
{{- end -}}
{{- end }}

{{/* Whether the optional top-level credentials are present (values, or declared for existingSecret). */}}
{{- define "xmpp-push.hasAdminToken" -}}
{{- if .Values.secrets.existingSecret }}{{ if .Values.secrets.existingSecretKeys.adminToken }}true{{ end }}{{ else if .Values.secrets.adminToken }}true{{ end }}
{{- end }}
{{- define "xmpp-push.hasRegistrationToken" -}}
{{- if .Values.secrets.existingSecret }}{{ if .Values.secrets.existingSecretKeys.registrationToken }}true{{ end }}{{ else if .Values.secrets.registrationToken }}true{{ end }}
{{- end }}
{{- define "xmpp-push.hasMetricsToken" -}}
{{- if .Values.secrets.existingSecret }}{{ if .Values.secrets.existingSecretKeys.metricsToken }}true{{ end }}{{ else if .Values.secrets.metricsToken }}true{{ end }}
{{- end }}
{{- define "xmpp-push.hasTokenEncryptionKey" -}}
{{- if .Values.secrets.existingSecret }}{{ if .Values.secrets.existingSecretKeys.tokenEncryptionKey }}true{{ end }}{{ else if .Values.secrets.tokenEncryptionKey }}true{{ end }}
{{- end }}
{{- define "xmpp-push.hasTokenEncryptionPreviousKey" -}}
{{- if .Values.secrets.existingSecret }}{{ if .Values.secrets.existingSecretKeys.tokenEncryptionPreviousKey }}true{{ end }}{{ else if .Values.secrets.tokenEncryptionPreviousKey }}true{{ end }}
{{- end }}

{{/*
Update strategy. See values.yaml updateStrategy: Recreate for the embedded database (one process
per directory); otherwise RollingUpdate without unavailability: with ejabberd the new pod connects
beside the old one; with Prosody it stands by (ready) and takes the component over within a second
when the old pod stops.
*/}}
{{- define "xmpp-push.componentMode" -}}
{{- .Values.xmpp.component.mode | default (ternary "shared" "exclusive" (eq .Values.xmpp.server "ejabberd")) -}}
{{- end }}

{{- define "xmpp-push.strategy" -}}
{{- if .Values.updateStrategy -}}
{{ toYaml .Values.updateStrategy }}
{{- else if .Values.persistence.embedded.enabled -}}
type: Recreate
{{- else -}}
type: RollingUpdate
rollingUpdate:
  maxSurge: 1
  maxUnavailable: 0
{{- end -}}
{{- end }}

{{/*
The provider credential files of each app: a list of {key, configKey, section, value} dicts.
key: the Secret key (and file name), configKey: the config file key that points at it.
Keys the user already set in config.apps[].<section> (e.g. keyFile pointing at an extra volume) win.
*/}}
{{- define "xmpp-push.appCredentials" -}}
{{- $out := list -}}
{{- $creds := .Values.secrets.apps | default dict -}}
{{- range $i, $app := (.Values.config.apps | default list) -}}
{{- $id := toString (required (printf "config.apps[%d].id is required" $i) $app.id) -}}
{{- $c := get $creds $id | default dict -}}
{{- if hasKey $app "apns" -}}
{{- $s := get $app "apns" | default dict -}}
{{- if or (hasKey $s "teamId") (hasKey $s "keyId") -}}
{{- if not (hasKey $s "keyFile") }}{{ $out = append $out (dict "app" $id "section" "apns" "configKey" "keyFile" "key" (printf "app-%s-apns-key" $id) "value" ($c.apnsKey | default "") "required" true "hint" "apnsKey (the AuthKey_XXXXXXXXXX.p8 file)") }}{{ end -}}
{{- else -}}
{{- if not (hasKey $s "certFile") }}{{ $out = append $out (dict "app" $id "section" "apns" "configKey" "certFile" "key" (printf "app-%s-apns-cert" $id) "value" ($c.apnsCert | default "") "required" true "hint" "apnsCert (certificate PEM), or give apns.teamId and apns.keyId for token auth with apnsKey") }}{{ end -}}
{{- if not (hasKey $s "privateKeyFile") }}{{ $out = append $out (dict "app" $id "section" "apns" "configKey" "privateKeyFile" "key" (printf "app-%s-apns-private-key" $id) "value" ($c.apnsPrivateKey | default "") "required" true "hint" "apnsPrivateKey (private key PEM)") }}{{ end -}}
{{- if and $c.apnsPassphrase (not (hasKey $s "passphraseFile")) }}{{ $out = append $out (dict "app" $id "section" "apns" "configKey" "passphraseFile" "key" (printf "app-%s-apns-passphrase" $id) "value" $c.apnsPassphrase "required" false "hint" "apnsPassphrase") }}{{ end -}}
{{- end -}}
{{- end -}}
{{- if hasKey $app "jpush" -}}
{{- if not (hasKey (get $app "jpush" | default dict) "masterSecretFile") }}{{ $out = append $out (dict "app" $id "section" "jpush" "configKey" "masterSecretFile" "key" (printf "app-%s-jpush-master-secret" $id) "value" ($c.jpushMasterSecret | default "") "required" true "hint" "jpushMasterSecret") }}{{ end -}}
{{- end -}}
{{- if hasKey $app "fcm" -}}
{{- $f := get $app "fcm" | default dict -}}
{{- if not (or (hasKey $f "serviceAccountFile") (eq (toString (get $f "credentials")) "application-default")) }}{{ $out = append $out (dict "app" $id "section" "fcm" "configKey" "serviceAccountFile" "key" (printf "app-%s-fcm-service-account" $id) "value" ($c.fcmServiceAccount | default "") "required" true "hint" "fcmServiceAccount (the service-account JSON)") }}{{ end -}}
{{- end -}}
{{- end -}}
{{- toJson (dict "items" $out) -}}
{{- end }}

{{/* config.yaml: .Values.config with the credential file paths merged into the apps. */}}
{{- define "xmpp-push.configYaml" -}}
{{- $dir := include "xmpp-push.secretsDir" . -}}
{{- $cfg := deepCopy (.Values.config | default dict) -}}
{{- $creds := (include "xmpp-push.appCredentials" . | fromJson).items -}}
{{- $apps := $cfg.apps | default list -}}
{{- range $app := $apps -}}
{{- range $cred := $creds -}}
{{- if eq (toString $app.id) $cred.app -}}
{{- if not (get $app $cred.section) }}{{ $_ := set $app $cred.section dict }}{{ end -}}
{{- $_ := set (get $app $cred.section) $cred.configKey (printf "%s/%s" $dir $cred.key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $apps }}{{ $_ := unset $cfg "apps" }}{{ end -}}
{{- if $cfg -}}
{{ toYaml $cfg }}
{{- else -}}
{}
{{- end -}}
{{- end }}

{{/*
Refuses values that cannot work, with a sentence saying what to set. Included by the Deployment.
*/}}
{{- define "xmpp-push.validate" -}}
{{- $v := .Values -}}
{{- if not $v.xmpp.component.service -}}
{{- fail "xmpp.component.service is required: the XMPP server's component port as xmpp://host:port, reachable from the cluster (e.g. xmpp://prosody.xmpp.svc.cluster.local:5347)" -}}
{{- end -}}
{{- if not (regexMatch "^xmpp://[^\\s/:]+(:[0-9]{1,5})?$" $v.xmpp.component.service) -}}
{{- fail (printf "xmpp.component.service %q must look like xmpp://host:port (the XMPP server's component port)" $v.xmpp.component.service) -}}
{{- end -}}
{{- if not $v.xmpp.component.domain -}}
{{- fail "xmpp.component.domain is required: the component domain configured on the XMPP server, e.g. push.example.org" -}}
{{- end -}}
{{- if and (not $v.secrets.existingSecret) (not $v.secrets.componentSecret) -}}
{{- fail "secrets.componentSecret is required (the XMPP server's component_secret / ejabberd_service password), or name a Secret with a component-secret key in secrets.existingSecret" -}}
{{- end -}}
{{- if $v.persistence.embedded.enabled -}}
{{- if ne (int $v.replicaCount) 1 -}}
{{- fail "persistence.embedded.enabled: the embedded database is single-process, replicaCount must be 1 (use Postgres to run more)" -}}
{{- end -}}
{{- if eq (toString (dig "type" "" $v.updateStrategy)) "RollingUpdate" -}}
{{- fail "persistence.embedded.enabled: a RollingUpdate would start a second process on the embedded database; leave updateStrategy empty (Recreate)" -}}
{{- end -}}
{{- else -}}
{{- if not (or $v.database.existingSecret $v.secrets.existingSecret $v.secrets.databaseUrl) -}}
{{- fail "a Postgres URL is required: set secrets.databaseUrl (postgres://user:password@host:5432/db) or database.existingSecret, or persistence.embedded.enabled=true for the single-replica embedded database" -}}
{{- end -}}
{{- if and $v.secrets.databaseUrl (not (regexMatch "^postgres(ql)?://" $v.secrets.databaseUrl)) -}}
{{- fail "secrets.databaseUrl must be a postgres:// URL" -}}
{{- end -}}
{{- end -}}
{{- if and (eq (include "xmpp-push.componentMode" $) "shared") (ne $v.xmpp.server "ejabberd") -}}
{{- fail (printf "xmpp.component.mode=shared with xmpp.server=%s: only ejabberd accepts several connections for one component; use exclusive (one replica connects, the others stand by)" $v.xmpp.server) -}}
{{- end -}}
{{- /* Settings the chart sets as environment variables, and credentials, do not belong in config. */ -}}
{{- $cfg := $v.config | default dict -}}
{{- $owned := list
  (list "component" "service" "xmpp.component.service")
  (list "component" "domain" "xmpp.component.domain")
  (list "component" "secret" "secrets.componentSecret")
  (list "component" "secretFile" "secrets.componentSecret")
  (list "database" "url" "secrets.databaseUrl or database.existingSecret")
  (list "database" "urlFile" "secrets.databaseUrl or database.existingSecret")
  (list "database" "dataDir" "persistence.embedded")
  (list "database" "migrateOnStart" "migrations.job.enabled")
  (list "http" "host" "nothing (the pod listens on all interfaces)")
  (list "http" "port" "containerPort")
  (list "http" "adminToken" "secrets.adminToken")
  (list "http" "adminTokenFile" "secrets.adminToken")
  (list "http" "registrationToken" "secrets.registrationToken")
  (list "http" "registrationTokenFile" "secrets.registrationToken")
  (list "log" "level" "logLevel") -}}
{{- range $o := $owned -}}
{{- if hasKey (get $cfg (index $o 0) | default dict) (index $o 1) -}}
{{- fail (printf "config.%s.%s is set by the chart: use %s instead" (index $o 0) (index $o 1) (index $o 2)) -}}
{{- end -}}
{{- end -}}
{{- range $k, $use := dict "domains" "xmpp.domains" "tokenEncryptionKey" "secrets.tokenEncryptionKey" "tokenEncryptionKeyFile" "secrets.tokenEncryptionKey" "tokenEncryptionPreviousKey" "secrets.tokenEncryptionPreviousKey" "tokenEncryptionPreviousKeyFile" "secrets.tokenEncryptionPreviousKey" -}}
{{- if hasKey $cfg $k -}}
{{- fail (printf "config.%s is set by the chart: use %s instead" $k $use) -}}
{{- end -}}
{{- end -}}
{{- $ids := dict -}}
{{- range $i, $app := ($cfg.apps | default list) -}}
{{- $_ := set $ids (toString $app.id) true -}}
{{- range $section, $keys := dict "apns" (list "key" "cert" "privateKey" "passphrase") "jpush" (list "masterSecret") "fcm" (list "serviceAccount") -}}
{{- range $k := $keys -}}
{{- if hasKey (get $app $section | default dict) $k -}}
{{- fail (printf "config.apps[%d].%s.%s is a credential and would land in a ConfigMap: put it in secrets.apps.%s (see values.yaml)" $i $section $k (toString $app.id)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $v.secrets.existingSecret -}}
{{- range $id, $_ := ($v.secrets.apps | default dict) -}}
{{- if not (hasKey $ids $id) -}}
{{- fail (printf "secrets.apps.%s: there is no app with id %q in config.apps" $id $id) -}}
{{- end -}}
{{- end -}}
{{- range $c := (include "xmpp-push.appCredentials" $ | fromJson).items -}}
{{- if and $c.required (not $c.value) -}}
{{- fail (printf "config.apps (id %s): its %s section needs secrets.apps.%s.%s" $c.app $c.section $c.app $c.hint) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/*
A Kubernetes memory quantity (512Mi, 1.5Gi, 500M, 1G, 536870912) in MiB, rounded down.
*/}}
{{- define "xmpp-push.memoryMiB" -}}
{{- $m := toString . -}}
{{- $units := list (list "Ki" 0.0009765625) (list "Mi" 1.0) (list "Gi" 1024.0) (list "Ti" 1048576.0) (list "k" 0.00095367431640625) (list "M" 0.95367431640625) (list "G" 953.67431640625) -}}
{{- $mib := "" -}}
{{- range $units -}}
{{- if and (eq $mib "") (hasSuffix (index . 0) $m) (regexMatch "^[0-9.]+$" (trimSuffix (index . 0) $m)) -}}
{{- $mib = mulf (float64 (trimSuffix (index . 0) $m)) (index . 1) | floor | int | toString -}}
{{- end -}}
{{- end -}}
{{- if and (eq $mib "") (regexMatch "^[0-9]+$" $m) -}}
{{- $mib = divf (float64 $m) 1048576.0 | floor | int | toString -}}
{{- end -}}
{{- if eq $mib "" -}}
{{- fail (printf "memory limit %q: give it in Mi or Gi (e.g. 512Mi)" $m) -}}
{{- end -}}
{{- $mib -}}
{{- end }}

{{/*
NODE_OPTIONS of the server: the V8 heap cap is a share of the container's memory limit (the Docker image's
fixed 96 MiB fits only its default size), plus the image's small young generation. Empty when the
container has no memory limit: Node then sizes the heap by itself.
*/}}
{{- define "xmpp-push.nodeOptions" -}}
{{- $embedded := include "xmpp-push.embedded" . -}}
{{- $resources := ternary .Values.persistence.embedded.resources .Values.resources (eq $embedded "true") -}}
{{- $percent := ternary .Values.nodeHeap.embeddedPercentOfMemoryLimit .Values.nodeHeap.percentOfMemoryLimit (eq $embedded "true") -}}
{{- $limit := dig "limits" "memory" "" $resources -}}
{{- if $limit -}}
{{- $mib := include "xmpp-push.memoryMiB" $limit | atoi -}}
--max-old-space-size={{ div (mul $mib (int $percent)) 100 }} --max-semi-space-size=4
{{- end -}}
{{- end }}
