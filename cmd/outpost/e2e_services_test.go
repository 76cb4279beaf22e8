package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func webPod(i int) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: web-%d, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: outpost.local/busybox:test
    imagePullPolicy: Never
    command: ["sh", "-c", "mkdir -p /www && echo web-%d > /www/index.html && echo ok > /www/ready && exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 1, failureThreshold: 1}
`, i, i)
}

// inAgentNet runs a command in the agent's network namespace.
func (n *node) inAgentNet(args ...string) error {
	ns, err := n.netns()
	if err != nil {
		return err
	}
	return ns.Do(func() error {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
}

// TestE2EServices: a ClusterIP service spreads connections over its ready
// pods, by its named target port, and drops a pod that turns unready.
func TestE2EServices(t *testing.T) {
	n := newNode(t)
	var docs []string
	for i := range 3 {
		docs = append(docs, webPod(i))
	}
	docs = append(docs, `apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  clusterIP: 10.43.0.80
  ports: [{port: 80, targetPort: http}]
`)
	n.manifest("web.yaml", strings.Join(docs, "---\n"))
	n.start()
	// The agent's namespace has no default route (no network at all);
	// the host reaches service VIPs through the pod bridge.
	eventually(t, 30*time.Second, "a route to the service CIDR via the pod bridge", func() error {
		return n.inAgentNet("ip", "route", "replace", "10.43.0.0/16", "dev", "outpost0")
	})
	seen := func() map[string]int {
		got := map[string]int{}
		for range 30 {
			if body, err := n.httpGet("10.43.0.80:80"); err == nil {
				got[strings.TrimSpace(body)]++
			}
		}
		return got
	}
	eventually(t, 60*time.Second, "the service reaches all three pods", func() error {
		if got := seen(); len(got) != 3 {
			return fmt.Errorf("answers %v", got)
		}
		return nil
	})
	if out, err := n.cli("exec", "web-1", "--", "rm", "/www/ready"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	eventually(t, 30*time.Second, "web-1 out of the service", func() error {
		got := seen()
		if got["web-1"] > 0 || len(got) != 2 {
			return fmt.Errorf("answers %v", got)
		}
		return nil
	})
	if out, err := n.cli("get", "services", "-o", "wide"); err != nil || !strings.Contains(out, "10.43.0.80") || !strings.Contains(out, "2/3 ready") {
		t.Errorf("get services -o wide: %v\n%s", err, out)
	}
	out, err := n.cli("netrules", "dump")
	if err != nil || !strings.Contains(out, "10.43.0.80") || !strings.Contains(out, "table ip outpost") {
		t.Errorf("netrules dump: %v\n%s", err, out)
	}
	// `outpost cleanup` (with the agent stopped: a running one programs its
	// table again at once) removes our table and nothing else.
	n.stop()
	if err := n.inAgentNet("nft", "add", "table", "inet", "someone-else"); err != nil {
		t.Fatal(err)
	}
	if err := n.inAgentNet(outpostBinary(t), "cleanup"); err != nil {
		t.Fatal(err)
	}
	if err := n.inAgentNet("nft", "list", "table", "inet", "someone-else"); err != nil {
		t.Errorf("cleanup touched another table: %v", err)
	}
	if err := n.inAgentNet("nft", "list", "table", "ip", "outpost"); err == nil {
		t.Errorf("cleanup left the outpost table")
	}
}
