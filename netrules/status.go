package netrules

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/google/nftables"
)

// Status is what the last successful sync programmed, for
// `outpost get services -o wide`.
type Status struct {
	Services  []ServiceStatus
	HostPorts []HostPortStatus
	// Problems lists what could not be programmed: services without a
	// cluster IP, node ports or host ports claimed twice.
	Problems []string
	Synced   time.Time
	Full     bool // the last sync replaced the table
	// ForeignChanges counts the changes other processes made to the table
	// (a firewall reload, an admin) that the agent saw and repaired.
	ForeignChanges int64
}

// ServiceStatus is one service's virtual IP and ports.
type ServiceStatus struct {
	Name      string
	ClusterIP netip.Addr
	Ports     []PortStatus
}

// PortStatus is one service port and its endpoints.
type PortStatus struct {
	Name       string
	Protocol   string // TCP or UDP
	Port       uint16
	NodePort   uint16 // 0: none
	TargetPort string
	Endpoints  []Endpoint
	Ready      int
}

// HostPortStatus is a container port published on the node.
type HostPortStatus struct {
	Pod      string
	HostIP   netip.Addr // invalid: every node address
	Protocol string
	HostPort uint16
	PodIP    netip.Addr
	Port     uint16
}

// syncRecord is what Status is built from, when asked: copying every
// endpoint on every sync would cost more than a one-service change.
type syncRecord struct {
	rs   *ruleset // nil: no sync yet, or Cleanup since
	full bool
	at   time.Time
}

func (s syncRecord) status() Status {
	if s.rs == nil {
		return Status{}
	}
	return newStatus(s.rs, s.full, s.at)
}

func newStatus(rs *ruleset, full bool, now time.Time) Status {
	st := Status{Synced: now, Full: full, Problems: slices.Clone(rs.conflicts)}
	for i := range rs.services {
		sp := &rs.services[i]
		if n := len(st.Services); n == 0 || st.Services[n-1].Name != sp.service {
			st.Services = append(st.Services, ServiceStatus{Name: sp.service, ClusterIP: sp.vip})
		}
		s := &st.Services[len(st.Services)-1]
		s.Ports = append(s.Ports, PortStatus{
			Name: sp.portName, Protocol: strings.ToUpper(protoName(sp.proto)), Port: sp.port, NodePort: sp.nodePort,
			TargetPort: targetText(sp), Endpoints: slices.Clone(sp.endpoints), Ready: readyCount(sp),
		})
	}
	for _, hp := range rs.hostPorts {
		st.HostPorts = append(st.HostPorts, HostPortStatus{Pod: hp.pod, HostIP: hp.hostIP,
			Protocol: strings.ToUpper(protoName(hp.proto)), HostPort: hp.port, PodIP: hp.ip, Port: hp.target})
	}
	return st
}

func targetText(sp *servicePort) string {
	if sp.target.IsZero() {
		return fmt.Sprint(sp.port)
	}
	return sp.target.String()
}

// Status returns what the last successful sync programmed; the zero Status
// before the first one and after Cleanup.
func (r *Rules) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.synced.status()
	st.ForeignChanges = r.foreign.Load()
	return st
}

// Dump returns the table as nft-like text: what the last successful sync
// programmed, checked against the chains the kernel lists, with any drift
// (someone deleted the table or a chain, or added one) noted in comments.
// Live counters are for `nft list table ip outpost`.
func (r *Rules) Dump(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return "", ErrClosed
	}
	chains, err := r.conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return "", fmt.Errorf("netrules: list chains: %w", err)
	}
	inKernel := map[string]bool{}
	for _, c := range chains {
		if c.Table != nil && c.Table.Name == r.cfg.TableName {
			inKernel[c.Name] = true
		}
	}
	var b strings.Builder
	if r.applied == nil {
		fmt.Fprintf(&b, "# not synced yet (or the last sync failed); the kernel has %d chains in table ip %s\n",
			len(inKernel), r.cfg.TableName)
		return b.String(), nil
	}
	st := r.synced.status()
	fmt.Fprintf(&b, "# table ip %s as programmed at %s (%d services, %d host ports)\n",
		r.cfg.TableName, st.Synced.Format(time.RFC3339), len(st.Services), len(st.HostPorts))
	var drift []string
	for _, c := range r.applied.chains() {
		if !inKernel[c.name] {
			drift = append(drift, "# drift: chain "+c.name+" is missing from the kernel")
		}
		delete(inKernel, c.name)
	}
	for name := range inKernel {
		drift = append(drift, "# drift: chain "+name+" is in the kernel but was not programmed")
	}
	slices.Sort(drift)
	for _, d := range drift {
		b.WriteString(d + "\n")
	}
	for _, p := range st.Problems {
		b.WriteString("# not programmed: " + p + "\n")
	}
	b.WriteString(r.applied.text(r.cfg.TableName))
	return b.String(), nil
}
