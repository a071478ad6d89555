// Command etcd is upstream etcd's server (go.etcd.io/etcd/server/v3/etcdmain), built from the
// module proxy at the version pinned in go.mod. Debian ships etcd 3.4, older than what
// kube-apiserver 1.36 is tested with; this is the same main as upstream's etcd binary.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
