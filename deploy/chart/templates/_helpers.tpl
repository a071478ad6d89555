{{/*
Names and labels shared by every template. Kept to plain includes so the chart renders with the
small test renderer in tests/deploy (see README.md, "Rendering without helm").
*/}}
{{- define "apibridge.fullname" -}}
{{ .Release.Name }}
{{- end }}

{{- define "apibridge.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end }}

{{- define "apibridge.labels" -}}
app.kubernetes.io/name: apibridge
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "apibridge.controller.selectorLabels" -}}
app.kubernetes.io/name: apibridge
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end }}

{{- define "apibridge.webhook.selectorLabels" -}}
app.kubernetes.io/name: apibridge
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end }}

{{- define "apibridge.priorityClassName" -}}
{{- if .Values.priorityClass.name }}{{ .Values.priorityClass.name }}{{ else }}{{ .Release.Name }}-critical{{ end }}
{{- end }}

{{- define "apibridge.webhook.tlsSecret" -}}
{{ .Release.Name }}-webhook-tls
{{- end }}

{{/* The planner's settings as arguments: the same for the controller and the webhook. */}}
{{- define "apibridge.settingsArgs" -}}
- --pool={{ .Values.settings.pool }}
- --pool-v6={{ .Values.settings.poolV6 }}
{{- if .Values.settings.serviceCIDR }}
- --service-cidr={{ .Values.settings.serviceCIDR }}
{{- end }}
{{- if .Values.settings.dnsService }}
- --dns-service={{ .Values.settings.dnsService }}
{{- end }}
{{- if not .Values.settings.kubeProxy }}
- --no-kube-proxy
{{- end }}
{{- end }}
