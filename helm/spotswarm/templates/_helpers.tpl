{{- define "spotswarm.labels" -}}
app.kubernetes.io/name: spotswarm
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

{{- define "spotswarm.selector" -}}
app.kubernetes.io/name: spotswarm
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "spotswarm.fullname" -}}
{{- printf "%s-operator" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "spotswarm.natsAuthSecret" -}}
{{- printf "%s-nats-auth" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "spotswarm.natsUrl" -}}
{{- if .Values.nats.deploy -}}
nats://{{ .Release.Name }}-nats.{{ .Release.Namespace }}.svc:{{ .Values.nats.port }}
{{- else -}}
{{ .Values.nats.url }}
{{- end -}}
{{- end -}}
