package testenv

import (
	"fmt"
	"strings"
)

// NodeStateDoc is a NodeState document of generation gen with one pod of a
// single busybox container per name, as the control plane publishes it
// (unsigned).
func NodeStateDoc(gen int64, pods ...string) []byte {
	var ps []string
	for _, p := range pods {
		ps = append(ps, fmt.Sprintf(`{"metadata":{"name":%q},"spec":{"containers":[{"name":"c","image":"busybox:1"}]}}`, p))
	}
	return fmt.Appendf(nil, `{"apiVersion":"outpost.dev/v1","kind":"NodeState","generation":%d,"pods":[%s]}`, gen, strings.Join(ps, ","))
}
