//go:build tools

// Package tools pins Helm 3's command (helm.sh/helm/v3/cmd/helm); it holds no code of its own.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
