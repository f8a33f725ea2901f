{{/* The name prefix of every object of the release. */}}
{{- define "gatehouse.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gatehouse.controller.name" -}}{{ include "gatehouse.fullname" . }}-controller{{- end -}}
{{- define "gatehouse.tokenserver.name" -}}{{ include "gatehouse.fullname" . }}-tokenserver{{- end -}}

{{- define "gatehouse.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* gatehouse.selector takes (list $ "component"). */}}
{{- define "gatehouse.selector" -}}
app.kubernetes.io/name: gatehouse
app.kubernetes.io/instance: {{ (index . 0).Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "gatehouse.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "gatehouse.tokenserver.scheme" -}}
{{ if .Values.tokenServer.tls.secretName }}https{{ else }}http{{ end }}
{{- end -}}

{{- define "gatehouse.tokenserver.url" -}}
{{- .Values.tokenServer.externalURL | default (printf "%s://%s.%s.svc:%d" (include "gatehouse.tokenserver.scheme" .) (include "gatehouse.tokenserver.name" .) .Release.Namespace (int .Values.tokenServer.service.port)) -}}
{{- end -}}

{{/* The token server's memory limit, from which the caps on password hashes follow: both components are given it. */}}
{{- define "gatehouse.tokenserver.memoryLimit" -}}
{{- (.Values.tokenServer.resources.limits | default dict).memory | default "512Mi" -}}
{{- end -}}

{{/* The restricted Pod Security Standard, for pods and containers. */}}
{{- define "gatehouse.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "gatehouse.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* gatehouse.scheduling renders nodeSelector, tolerations and affinity of a component's values. */}}
{{- define "gatehouse.scheduling" -}}
{{- with .nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "gatehouse.podNamespaceEnv" -}}
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- end -}}
