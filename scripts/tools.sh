#!/usr/bin/env bash
# Build the real components the tests run — kube-apiserver, kube-controller-manager, kube-scheduler,
# kubectl (k8s.io/kubernetes), etcd (go.etcd.io/etcd/server/v3), Helm 3 and 4 and kube-ovn-controller
# (github.com/kubeovn/kube-ovn) — from the Go module proxy, at the versions pinned in tools/*/go.mod, and
# link them into .tools/bin/.
#
# Why a cache outside the clone: a cold build of the control plane takes tens of minutes on two cores.
# Each tool is built once per machine into ${APIBRIDGE_TOOLS_CACHE:-~/.cache/apibridge/tools}/
# <name>-<version>-<key>/ (the key hashes the module's go.mod, go.sum and link flags, so a changed pin
# builds anew), and .tools/bin/ only holds links into it: a fresh clone on the same machine builds
# nothing. Called by scripts/test.sh; the demo never waits for Go.
#
# Usage: scripts/tools.sh [--check] [NAME...]
#   --check: build nothing, exit 1 naming what is missing; NAME: only these (kubernetes, etcd, helm3, helm4,
#   kube-ovn, crds)
# A pip-installed apibridge carries this script and tools/ in its wheel and runs it as `apibridge lab tools`,
# with APIBRIDGE_TOOLS_BIN (where the links go: the installation itself may be read-only) and
# APIBRIDGE_TOOLS_COMMAND (the command its messages name) set.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
CACHE=${APIBRIDGE_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/apibridge/tools}
BIN=${APIBRIDGE_TOOLS_BIN:-$ROOT/.tools/bin}
SELF=${APIBRIDGE_TOOLS_COMMAND:-scripts/tools.sh}
GO_MIN=1.26.4 # the highest `go` directive of tools/*/go.mod

say() { printf 'tools: %s\n' "$*" >&2; }

# name | module dir | version (for the cache key and version stamps) | packages | link flags
K8S_VERSION=v1.36.3
k8s_x() {
  local p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    printf -- '-X %s.gitVersion=%s -X %s.gitMajor=1 -X %s.gitMinor=36 -X %s.gitTreeState=clean ' \
      "$p" "$K8S_VERSION" "$p" "$p" "$p"
  done
}
TOOLS=(
  "kubernetes|tools/kubernetes|$K8S_VERSION|k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl|-s -w $(k8s_x)"
  "etcd|tools/etcd|v3.6.16|.|-s -w"
  "helm3|tools/helm3|v3.21.4|helm.sh/helm/v3/cmd/helm|-s -w -X helm.sh/helm/v3/internal/version.version=v3.21.4 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=36 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=36"
  "helm4|tools/helm4|v4.3.2|helm.sh/helm/v4/cmd/helm|-s -w -X helm.sh/helm/v4/internal/version.version=v4.3.2"
  # Kube-OVN's Makefile stamps versions.{VERSION,COMMIT}; its controller main dispatches on argv[0]
  "kube-ovn|tools/kube-ovn|v1.16.2|github.com/kubeovn/kube-ovn/cmd/controller|-s -w -X github.com/kubeovn/kube-ovn/versions.VERSION=v1.16.2 -X github.com/kubeovn/kube-ovn/versions.COMMIT=git-12506be"
)
# binaries each build yields, and the name each gets in .tools/bin
binaries() {
  case $1 in
  kubernetes) echo "kube-apiserver:kube-apiserver kube-controller-manager:kube-controller-manager kube-scheduler:kube-scheduler kubectl:kubectl" ;;
  etcd) echo "etcd:etcd" ;;
  helm3) echo "helm:helm3" ;;
  helm4) echo "helm:helm4" ;;
  kube-ovn) echo "controller:kube-ovn-controller" ;; # argv[0] must be kube-ovn-controller
  esac
}

check_only=0
if [[ ${1:-} == --check ]]; then
  check_only=1
  shift
fi
only=" $* "

entry_dir() { # name version key-material -> cache dir
  local key
  key=$(printf '%s' "$3" | sha256sum | cut -c1-12)
  echo "$CACHE/$1-$2-$key"
}

go_ok() {
  if ! command -v go >/dev/null 2>&1; then
    say "no 'go' on PATH: the real Kubernetes components, etcd and Helm are built from the Go module proxy; install Go >= $GO_MIN (https://go.dev/dl/) and run $SELF again"
    return 1
  fi
  local have
  have=$(GOTOOLCHAIN=local go env GOVERSION | sed 's/^go//')
  if [[ $(printf '%s\n%s\n' "$GO_MIN" "$have" | sort -V | head -n1) != "$GO_MIN" ]]; then
    say "go $have is older than $GO_MIN, which tools/*/go.mod need; install Go >= $GO_MIN and run $SELF again"
    return 1
  fi
}

# The Go command names a refused module on a line with "reading https://…: 403/404/410" and the
# proxy's own words on the next ("server response: …"); show those lines as they are.
explain_failure() {
  local log=$1 name=$2
  if grep -qE 'reading https?://[^ ]+: (4[0-9][0-9]|5[0-9][0-9])|server response:|dial tcp|no such host|proxyconnect' "$log"; then
    say "the Go module proxy ($(go env GOPROXY)) refused a module $name needs; its answer:"
    grep -E -A1 'reading https?://|server response:|dial tcp|no such host|proxyconnect' "$log" | sed 's/^/tools:   /' >&2
    say "the pins are in $ROOT/tools/$name/go.mod; pick a version the proxy serves (go list -m -versions MODULE)"
  else
    say "building $name failed; the last lines of the Go output:"
    tail -n 20 "$log" | sed 's/^/tools:   /' >&2
  fi
}

mkdir -p "$BIN"
missing=()
for spec in "${TOOLS[@]}"; do
  IFS='|' read -r name dir version pkgs ldflags <<<"$spec"
  [[ $only == "  " || $only == *" $name "* ]] || continue
  keymat="$(cat "$dir/go.mod" "$dir/go.sum")|$pkgs|$ldflags"
  out=$(entry_dir "$name" "$version" "$keymat")
  if [[ ! -f $out/.complete ]]; then
    if ((check_only)); then
      missing+=("$name $version")
      continue
    fi
    go_ok || exit 1
    mkdir -p "$CACHE"
    exec 9>"$CACHE/.lock-$name"
    flock 9 # another clone building the same tool: wait for it instead of building twice
    if [[ ! -f $out/.complete ]]; then
      tmp=$(mktemp -d "$CACHE/.build-$name-XXXXXX")
      chmod 755 "$tmp"
      log=$tmp/build.log
      say "building $name $version from the Go module proxy into $out (cold: minutes; the control plane takes longest)"
      start=$(date +%s)
      # shellcheck disable=SC2086 # pkgs and ldflags are word lists
      if ! (cd "$dir" && GOTOOLCHAIN=local GOFLAGS="${GOFLAGS:-} -mod=readonly" \
        go build -trimpath -ldflags "$ldflags" -o "$tmp/" $pkgs) >"$log" 2>&1; then
        explain_failure "$log" "$name"
        rm -rf "$tmp"
        exit 1
      fi
      secs=$(($(date +%s) - start))
      printf '%s %s built in %s s with %s\n' "$name" "$version" "$secs" "$(go env GOVERSION)" >"$tmp/.complete"
      rm -rf "$out"
      mv "$tmp" "$out"
      say "built $name $version in ${secs}s"
    fi
    exec 9>&-
  fi
  for pair in $(binaries "$name"); do
    src=${pair%%:*}
    dst=${pair##*:}
    [[ -f $out/.complete ]] && ln -sfn "$out/$src" "$BIN/$dst"
  done
done
# Third-party CRDs the tests install, as their projects publish them in their Go modules (the module zip
# holds the repository's YAML): Kube-OVN's Vpc/Subnet/... and Multus' NetworkAttachmentDefinition; and
# Kube-OVN's libovsdb models of OVN NB and SB, whose `schema` literal is the schema the controller needs
# (apibridge.twin.kubeovn.schema reads it for `lab up --kube --engine kube-ovn`); and the chart's RBAC for
# kube-ovn-controller (apibridge.twin.kubeovn.rbac; .txt: Helm templates, not applied as they are).
# module | version | file in the module | name in .tools/crds
CRD_SOURCES=(
  "github.com/kubeovn/kube-ovn|v1.16.2|charts/kube-ovn-v2/crds/kube-ovn-crd.yaml|kube-ovn-v1.16.2.yaml"
  "github.com/kubeovn/kube-ovn|v1.16.2|pkg/ovsdb/ovnnb/model.go|kube-ovn-v1.16.2-ovnnb-model.go.txt"
  "github.com/kubeovn/kube-ovn|v1.16.2|pkg/ovsdb/ovnsb/model.go|kube-ovn-v1.16.2-ovnsb-model.go.txt"
  "github.com/kubeovn/kube-ovn|v1.16.2|charts/kube-ovn/templates/ovn-CR.yaml|kube-ovn-v1.16.2-ovn-CR.yaml.txt"
  "github.com/kubeovn/kube-ovn|v1.16.2|charts/kube-ovn/templates/ovn-CRB.yaml|kube-ovn-v1.16.2-ovn-CRB.yaml.txt"
  "github.com/k8snetworkplumbingwg/network-attachment-definition-client|v1.7.7|artifacts/networks-crd.yaml|multus-nad-v1.7.7.yaml"
)
if [[ $only == "  " || $only == *" crds "* ]]; then
  crds=$CACHE/crds-$(printf '%s\n' "${CRD_SOURCES[@]}" | sha256sum | cut -c1-12)
  if [[ ! -f $crds/.complete ]]; then
    if ((check_only)); then
      missing+=("crds")
    else
      go_ok || exit 1
      mkdir -p "$CACHE"
      tmp=$(mktemp -d "$CACHE/.crds-XXXXXX")
      chmod 755 "$tmp"
      for src in "${CRD_SOURCES[@]}"; do
        IFS='|' read -r mod ver file dst <<<"$src"
        say "fetching $mod@$ver from the Go module proxy for $file"
        if ! dir=$(cd "$tmp" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod download -json "$mod@$ver" 2>"$tmp/err" |
          python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get("Dir") or ""); sys.exit(1 if d.get("Error") else 0)' \
            2>>"$tmp/err") || [[ -z $dir ]]; then
          say "the Go module proxy refused $mod@$ver; its answer:"
          (cd "$tmp" && GOTOOLCHAIN=local go mod download -json "$mod@$ver" 2>&1 | grep '"Error"' | sed 's/^/tools:   /' >&2) || true
          rm -rf "$tmp"
          exit 1
        fi
        { printf '# %s@%s %s, copied unchanged by scripts/tools.sh\n' "$mod" "$ver" "$file"; cat "$dir/$file"; } >"$tmp/$dst"
      done
      rm -f "$tmp/err"
      touch "$tmp/.complete"
      rm -rf "$crds"
      mv "$tmp" "$crds"
    fi
  fi
  [[ -f $crds/.complete ]] && ln -sfn "$crds" "$(dirname "$BIN")/crds"
fi

if ((${#missing[@]})); then
  say "not built yet: ${missing[*]}; run $SELF (needs Go >= $GO_MIN and the Go module proxy)"
  exit 1
fi
say "ready in $BIN: $(ls "$BIN" | tr '\n' ' ')"
