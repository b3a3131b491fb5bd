{{/* Names and labels shared by every template. */}}

{{- define "aura-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name; the release name alone when it already contains the chart name. */}}
{{- define "aura-operator.fullname" -}}
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

{{- define "aura-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "aura-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "aura-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "aura-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* metadata.annotations for every object, when commonAnnotations is set. */}}
{{- define "aura-operator.annotations" -}}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "aura-operator.serviceAccountName" -}}
{{- default (include "aura-operator.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "aura-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The default credentials Secret's name: the value, or a generated one when the chart creates it. */}}
{{- define "aura-operator.credentialsSecretName" -}}
{{- if .Values.defaultCredentials.secretName }}
{{- .Values.defaultCredentials.secretName }}
{{- else if .Values.defaultCredentials.create }}
{{- printf "%s-credentials" (include "aura-operator.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "aura-operator.credentialsSecretNamespace" -}}
{{- default .Release.Namespace .Values.defaultCredentials.namespace }}
{{- end }}

{{/*
The rules the controllers need wherever they watch: a ClusterRole for all namespaces, a Role
per namespace otherwise. deploy/10-rbac.yaml explains each verb.
*/}}
{{- define "aura-operator.watchRules" -}}
- apiGroups: ["aura.neo4j.io"]
  resources: ["aurainstances", "aurasnapshots", "gdssessions"]
  verbs: ["get", "list", "watch", "patch", "update"]
- apiGroups: ["aura.neo4j.io"]
  resources: ["aurainstances"]
  verbs: ["delete"]
- apiGroups: ["aura.neo4j.io"]
  resources: ["aurainstances/status", "aurasnapshots/status", "gdssessions/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "create", "patch", "delete"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{/* Refuses value combinations the schema cannot express. */}}
{{- define "aura-operator.validate" -}}
{{- if and (gt (int .Values.replicas) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicas > 1 requires leaderElection.enabled=true: without it every replica would act on the same Aura instances" }}
{{- end }}
{{- if and .Values.defaultCredentials.create (or (not .Values.defaultCredentials.clientId) (not .Values.defaultCredentials.clientSecret)) }}
{{- fail "defaultCredentials.create=true needs defaultCredentials.clientId and defaultCredentials.clientSecret" }}
{{- end }}
{{- if and .Values.defaultCredentials.create .Values.defaultCredentials.namespace (ne .Values.defaultCredentials.namespace .Release.Namespace) }}
{{- fail "defaultCredentials.create=true creates the Secret in the release namespace: leave defaultCredentials.namespace empty" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.service.enabled) }}
{{- fail "metrics.serviceMonitor.enabled=true needs metrics.service.enabled=true (the ServiceMonitor selects that Service)" }}
{{- end }}
{{- end }}
