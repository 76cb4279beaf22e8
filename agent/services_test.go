package agent

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/netrules"
	"github.com/outpost-edge/outpost/store"
)

func TestDesiredServicesClusterIPs(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(filepath.Join(t.TempDir(), "state.db"), store.Options{ServiceCIDR: netip.MustParsePrefix("10.43.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := New(Options{Store: st, Runtime: newFakeRuntime(), Allocator: st, Logger: zerolog.Nop()})
	gen := int64(0)
	apply := func(doc string) {
		t.Helper()
		ns, err := api.ParseManifest([]byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		gen++
		ns.Generation = gen
		if _, err := st.Apply(ctx, store.SourceNode, ns); err != nil {
			t.Fatal(err)
		}
	}
	svc := func(name, ip string) string {
		doc := "apiVersion: v1\nkind: Service\nmetadata: {name: " + name + "}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n"
		if ip != "" {
			doc += "  clusterIP: " + ip + "\n"
		}
		return doc
	}
	ips := func(warned map[string]string) map[string]string {
		t.Helper()
		svcs, err := a.desiredServices(ctx, warned)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, s := range svcs {
			out[s.Metadata.Name] = s.Spec.ClusterIP
		}
		return out
	}
	warnings := func() int {
		evs, _ := st.RecentEvents(ctx, "service/web", 0)
		return len(evs)
	}
	warned := map[string]string{}

	apply(svc("web", ""))
	allocated := ips(warned)["web"]
	if allocated == "" {
		t.Fatal("no cluster IP allocated")
	}
	// The spec now names an address: the allocated one goes, the service keeps routing.
	apply(svc("web", "10.43.0.50"))
	if got := ips(warned)["web"]; got != "10.43.0.50" {
		t.Fatalf("after naming 10.43.0.50 the service has %q", got)
	}
	apply(svc("web", "10.43.0.60"))
	if got := ips(warned)["web"]; got != "10.43.0.60" {
		t.Fatalf("after changing to 10.43.0.60 the service has %q", got)
	}
	// An address outside the CIDR cannot be had: one event, not one per sync.
	apply(svc("web", "10.99.0.1"))
	for range 5 {
		if _, ok := ips(warned)["web"]; ok {
			t.Fatal("a service with an impossible clusterIP was routed")
		}
	}
	if n := warnings(); n != 1 {
		t.Fatalf("%d ClusterIPNotAvailable events over 5 syncs, want 1", n)
	}
}

// fakeRules counts syncs and offers Resync as netrules does.
type fakeRules struct {
	syncs  chan int // number of services of each sync
	resync chan struct{}
}

func (f *fakeRules) Sync(_ context.Context, svcs []api.Service, _ []netrules.Pod) error {
	f.syncs <- len(svcs)
	return nil
}

func (f *fakeRules) Resync() <-chan struct{} { return f.resync }

// TestResyncReprogramsUnchangedServices: when the rules say they must be
// programmed again (another process flushed the table), the services are
// synced although nothing changed; without it an unchanged picture is not.
func TestResyncReprogramsUnchangedServices(t *testing.T) {
	rules := &fakeRules{syncs: make(chan int, 16), resync: make(chan struct{}, 1)}
	h := newHarnessWith(t, func(o *Options) { o.Rules, o.Allocator = rules, o.Store.(*store.Store) })
	h.apply("apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n")
	next := func() int {
		t.Helper()
		select {
		case n := <-rules.syncs:
			return n
		case <-time.After(30 * time.Second):
			t.Fatal("no sync")
			return 0
		}
	}
	for next() != 1 {
	}
	// Nothing changed: no sync. The wake channel holds one: once two
	// more wakes were taken, the loop handled the first one to its end.
	for range 3 {
		select {
		case h.a.servicesWake <- struct{}{}:
		case <-time.After(30 * time.Second):
			t.Fatal("the services loop takes no wake")
		}
	}
	select {
	case n := <-rules.syncs:
		t.Fatalf("a sync of %d services with nothing changed", n)
	default:
	}
	rules.resync <- struct{}{}
	if n := next(); n != 1 {
		t.Fatalf("resync synced %d services, want 1", n)
	}
}
