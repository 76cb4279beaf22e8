package netrules

import (
	"errors"
	"fmt"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// DefaultFullSyncPeriod is how often the table is replaced even though
// nothing changed, as kube-proxy's nftables mode does hourly: it repairs
// what a change notification missed.
const DefaultFullSyncPeriod = time.Hour

// Someone else can break the table at any time: `nft flush ruleset` (a
// firewall reload, an admin) deletes it, and every service VIP is dead
// until the next change. The kernel tells every listener of the
// NFNLGRP_NFTABLES group about each change, with the netlink port id of
// the socket that asked for it: a change to our table from any other
// socket makes the next Sync a full one and wakes Resync.

// watchDrift listens to nftables' change notifications until Close.
func (r *Rules) watchDrift() error {
	cfg := &netlink.Config{}
	if r.ns != nil {
		cfg.NetNS = int(r.ns.Fd())
	}
	c, err := netlink.Dial(unix.NETLINK_NETFILTER, cfg)
	if err != nil {
		return fmt.Errorf("netrules: nftables notifications: %w", err)
	}
	// A full sync of our own is thousands of notifications: drop what does
	// not fit instead of failing the socket (the periodic full sync covers
	// a foreign change lost that way).
	err = errors.Join(c.JoinGroup(unix.NFNLGRP_NFTABLES), c.SetOption(netlink.NoENOBUFS, true), c.SetReadBuffer(1<<20))
	if err != nil {
		c.Close()
		return fmt.Errorf("netrules: nftables notifications: %w", err)
	}
	own, err := portID(r.nl)
	if err != nil {
		c.Close()
		return err
	}
	r.monitor = c
	go func() {
		for {
			msgs, err := c.Receive()
			if err != nil {
				if r.isClosed() {
					return
				}
				// Unexpected: from now on only the periodic full sync
				// repairs the table.
				r.log.Warn().Err(err).Msg("reading nftables notifications stopped")
				r.markDrift("notifications failed")
				return
			}
			for _, m := range msgs {
				if m.Header.PID != own && touches(m, r.cfg.TableName) {
					r.foreign.Add(1)
					r.markDrift(changeName(m))
					break
				}
			}
		}
	}()
	return nil
}

// portID is the netlink port id the kernel gave the socket.
func portID(c *netlink.Conn) (uint32, error) {
	if c == nil {
		return 0, errors.New("netrules: no netlink socket")
	}
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var sa unix.Sockaddr
	var serr error
	if err := rc.Control(func(fd uintptr) { sa, serr = unix.Getsockname(int(fd)) }); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, fmt.Errorf("netrules: netlink port id: %w", serr)
	}
	nl, ok := sa.(*unix.SockaddrNetlink)
	if !ok {
		return 0, errors.New("netrules: netlink port id: not a netlink socket")
	}
	return nl.Pid, nil
}

// touches reports whether m is a change to the ip table named table. In
// every object's message (table, chain, rule, set, element) the first
// attribute type is the table's name.
func touches(m netlink.Message, table string) bool {
	if m.Header.Type>>8 != unix.NFNL_SUBSYS_NFTABLES {
		return false
	}
	switch m.Header.Type & 0xff {
	case unix.NFT_MSG_NEWTABLE, unix.NFT_MSG_DELTABLE, unix.NFT_MSG_NEWCHAIN, unix.NFT_MSG_DELCHAIN,
		unix.NFT_MSG_NEWRULE, unix.NFT_MSG_DELRULE, unix.NFT_MSG_NEWSET, unix.NFT_MSG_DELSET,
		unix.NFT_MSG_NEWSETELEM, unix.NFT_MSG_DELSETELEM:
	default:
		return false
	}
	if len(m.Data) < nfgenLen || m.Data[0] != unix.NFPROTO_IPV4 {
		return false
	}
	ad, err := netlink.NewAttributeDecoder(m.Data[nfgenLen:])
	if err != nil {
		return false
	}
	for ad.Next() {
		if ad.Type() == 1 { // NFTA_{TABLE_NAME,CHAIN_TABLE,RULE_TABLE,SET_TABLE,SET_ELEM_LIST_TABLE}
			return ad.String() == table
		}
	}
	return false
}

func changeName(m netlink.Message) string {
	switch m.Header.Type & 0xff {
	case unix.NFT_MSG_DELTABLE:
		return "table deleted"
	case unix.NFT_MSG_DELCHAIN:
		return "chain deleted"
	case unix.NFT_MSG_DELRULE:
		return "rule deleted"
	case unix.NFT_MSG_DELSET, unix.NFT_MSG_DELSETELEM:
		return "map changed"
	}
	return "object added"
}

// markDrift makes the next Sync full and wakes Resync.
func (r *Rules) markDrift(why string) {
	if !r.dirty.Swap(true) {
		r.log.Warn().Str("table", r.cfg.TableName).Str("change", why).
			Msg("another process changed the table: programming it again")
	}
	r.wakeResync()
}

func (r *Rules) wakeResync() {
	select {
	case r.resync <- struct{}{}:
	default:
	}
}

// Resync receives when the table must be programmed again although the
// services did not change: another process changed it, or the full sync
// period passed. The next Sync then replaces the table.
func (r *Rules) Resync() <-chan struct{} { return r.resync }

// fullSyncTicker wakes Resync every period until Close.
func (r *Rules) fullSyncTicker(period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.dirty.Store(true)
			r.wakeResync()
		}
	}
}

func (r *Rules) isClosed() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}
