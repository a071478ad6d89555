//go:build tools

// Package tools pins kube-ovn-controller's main package (github.com/kubeovn/kube-ovn/cmd/controller);
// it holds no code of its own. Kube-OVN builds one binary per image and dispatches on argv[0]: this
// package's binary runs the controller when called as kube-ovn-controller (scripts/tools.sh links it
// under that name).
package tools

import (
	_ "github.com/kubeovn/kube-ovn/cmd/controller"
)
