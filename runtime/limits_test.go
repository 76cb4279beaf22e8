package runtime_test

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

// limitsScript spins for a second under its cpu limit, then prints the
// cgroup values the container sees, for whichever cgroup version the host
// runs (runc mounts the container's own cgroup at /sys/fs/cgroup).
const limitsScript = `end=$(( $(date +%s) + 2 )); while [ "$(date +%s)" -lt "$end" ]; do :; done
g=/sys/fs/cgroup
if [ -f $g/cgroup.controllers ]; then
  read quota period < $g/cpu.max
  echo "version=2 memory=$(cat $g/memory.max) swap=$(cat $g/memory.swap.max) quota=$quota period=$period" \
    "weight=$(cat $g/cpu.weight) throttled=$(sed -n 's/^nr_throttled //p' $g/cpu.stat)"
else
  echo "version=1 memory=$(cat $g/memory/memory.limit_in_bytes) swap=$(cat $g/memory/memory.memsw.limit_in_bytes 2>/dev/null || echo none)" \
    "quota=$(cat $g/cpu/cpu.cfs_quota_us) period=$(cat $g/cpu/cpu.cfs_period_us) shares=$(cat $g/cpu/cpu.shares)" \
    "throttled=$(sed -n 's/^nr_throttled //p' $g/cpu/cpu.stat)"
fi`

// TestResourceLimits checks that cpu and memory limits and the cpu request
// become the container's cgroup values, and that the cpu limit throttles.
// make test runs it on the host's cgroups and again in a cgroup v2 guest
// (internal/vmtest).
func TestResourceLimits(t *testing.T) {
	e := newEnv(t, nil)
	_, events := e.events()
	doc := hostPod("limits", limitsScript) +
		"    resources: {limits: {cpu: 100m, memory: 48Mi}, requests: {cpu: 50m}}\n"
	_, _, started := e.run(pod(t, doc))
	if exit := waitExit(t, events, started[0].ID, 60*time.Second); exit.Code != 0 {
		t.Fatalf("exit = %+v; log:\n%s", exit, readLog(t, started[0].LogPath))
	}
	got := map[string]string{}
	for _, f := range strings.Fields(logText(readLog(t, started[0].LogPath))) {
		if k, v, ok := strings.Cut(f, "="); ok {
			got[k] = v
		}
	}
	t.Logf("cgroup v%s: %v", got["version"], got)
	want := map[string]string{"memory": strconv.Itoa(48 << 20), "quota": "10000", "period": "100000"}
	switch got["version"] {
	case "2":
		want["swap"] = "0" // memory+swap equal to memory: no swap
		// cpu.shares 51 (50m) in cgroup v2's weight scale: 1 + (51-2)*9999/262142 = 2.
		if w, err := strconv.Atoi(got["weight"]); err != nil || w < 1 || w >= 100 {
			t.Errorf("cpu.weight = %q, want a weight below the default 100 for a 50m request", got["weight"])
		}
	case "1":
		want["shares"] = "51"
		if got["swap"] != "none" {
			want["swap"] = strconv.Itoa(48 << 20)
		}
	default:
		t.Fatalf("no cgroup values in the log: %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if n, err := strconv.Atoi(got["throttled"]); err != nil || n == 0 {
		t.Errorf("nr_throttled = %q after 2 s of spinning under a 100m limit: the cpu limit is not enforced", got["throttled"])
	}
}

// logText strips the CRI prefix (time, stream, tag) off each log line.
func logText(log string) string {
	var b strings.Builder
	for _, line := range strings.Split(log, "\n") {
		if f := strings.SplitN(line, " ", 4); len(f) == 4 {
			b.WriteString(f[3])
			b.WriteByte('\n')
		}
	}
	return b.String()
}
