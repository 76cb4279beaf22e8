package netrules

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// nlBatch is one nftables transaction encoded straight into the bytes
// sendmsg takes. google/nftables queues the same messages but asks for an
// ack (and, for rules, an echo of the rule) on every one and reads them one
// by one, two syscalls each; a full sync would spend more time on that than
// the kernel spends on the rules. Like nft, the batch asks for one ack only,
// on its last message: the kernel processes a batch within sendmsg and
// reports every failing message anyway, so that ack closes the transaction.
type nlBatch struct {
	b     []byte
	table string
	seq   uint32 // of the last message begun
	first uint32 // the batch-begin message's sequence
	msgs  int    // not counting the delimiters
	last  int    // offset of the last message begun
	setID uint32 // last batch-local ID given to an anonymous set
	err   error
}

const (
	nfgenLen   = 4 // struct nfgenmsg
	nlmsgHdr   = unix.NLMSG_HDRLEN
	batchMsgs  = unix.NFNL_SUBSYS_NFTABLES << 8
	attrLimit  = 0xffff // attribute lengths are 16 bits
	elemBudget = 60000  // bytes of elements per message, below attrLimit
)

func newBatch(table string, seq uint32) *nlBatch {
	nb := &nlBatch{table: table, seq: seq, b: make([]byte, 0, 4096)}
	nb.first = seq + 1
	nb.ctrl(unix.NFNL_MSG_BATCH_BEGIN)
	return nb
}

// ctrl adds a batch delimiter: family unspecified, the nftables subsystem
// in the nfgenmsg's res_id.
func (nb *nlBatch) ctrl(typ uint16) {
	at := nb.header(typ, unix.NLM_F_REQUEST, unix.AF_UNSPEC)
	binary.BigEndian.PutUint16(nb.b[at+nlmsgHdr+2:], unix.NFNL_SUBSYS_NFTABLES)
	nb.end(at)
}

// begin starts a message and returns its offset for end.
func (nb *nlBatch) begin(typ uint16, flags uint16) int {
	nb.msgs++
	nb.last = nb.header(typ, flags, byte(nftables.TableFamilyIPv4))
	return nb.last
}

func (nb *nlBatch) header(typ, flags uint16, family byte) int {
	nb.seq++
	at := len(nb.b)
	var h [nlmsgHdr + nfgenLen]byte
	binary.NativeEndian.PutUint16(h[4:], typ)
	binary.NativeEndian.PutUint16(h[6:], flags)
	binary.NativeEndian.PutUint32(h[8:], nb.seq)
	h[nlmsgHdr] = family
	h[nlmsgHdr+1] = unix.NFNETLINK_V0
	nb.b = append(nb.b, h[:]...)
	return at
}

func (nb *nlBatch) end(at int) {
	binary.NativeEndian.PutUint32(nb.b[at:], uint32(len(nb.b)-at))
}

func (nb *nlBatch) attr(typ uint16, data []byte) {
	var h [4]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(4+len(data)))
	binary.NativeEndian.PutUint16(h[2:], typ)
	nb.b = append(nb.b, h[:]...)
	nb.b = append(nb.b, data...)
	nb.pad()
}

func (nb *nlBatch) pad() {
	for len(nb.b)%4 != 0 {
		nb.b = append(nb.b, 0)
	}
}

func (nb *nlBatch) str(typ uint16, s string) {
	var h [4]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(4+len(s)+1))
	binary.NativeEndian.PutUint16(h[2:], typ)
	nb.b = append(nb.b, h[:]...)
	nb.b = append(nb.b, s...)
	nb.b = append(nb.b, 0)
	nb.pad()
}

func (nb *nlBatch) u32(typ uint16, v uint32) {
	nb.attr(typ, binary.BigEndian.AppendUint32(nil, v))
}

// nest starts a nested attribute and returns its offset for unnest.
func (nb *nlBatch) nest(typ uint16) int {
	at := len(nb.b)
	nb.b = append(nb.b, 0, 0, 0, 0)
	binary.NativeEndian.PutUint16(nb.b[at+2:], typ|unix.NLA_F_NESTED)
	return at
}

func (nb *nlBatch) unnest(at int) {
	n := len(nb.b) - at
	if n > attrLimit {
		nb.fail(fmt.Errorf("netlink attribute of %d bytes", n))
	}
	binary.NativeEndian.PutUint16(nb.b[at:], uint16(n))
}

func (nb *nlBatch) fail(err error) {
	if nb.err == nil {
		nb.err = err
	}
}

func (nb *nlBatch) tableMsg(typ uint16, flags uint16) {
	at := nb.begin(batchMsgs|typ, unix.NLM_F_REQUEST|flags)
	nb.str(unix.NFTA_TABLE_NAME, nb.table)
	nb.u32(unix.NFTA_TABLE_FLAGS, 0)
	nb.end(at)
}

func (nb *nlBatch) addTable() { nb.tableMsg(unix.NFT_MSG_NEWTABLE, unix.NLM_F_CREATE) }
func (nb *nlBatch) delTable() { nb.tableMsg(unix.NFT_MSG_DELTABLE, 0) }

func (nb *nlBatch) addChain(c *chain) {
	at := nb.begin(batchMsgs|unix.NFT_MSG_NEWCHAIN, unix.NLM_F_REQUEST|unix.NLM_F_CREATE)
	nb.str(unix.NFTA_CHAIN_TABLE, nb.table)
	nb.str(unix.NFTA_CHAIN_NAME, c.name)
	if c.base != nil {
		h := nb.nest(unix.NFTA_CHAIN_HOOK)
		nb.u32(unix.NFTA_HOOK_HOOKNUM, uint32(*hooks[c.base.hook]))
		nb.u32(unix.NFTA_HOOK_PRIORITY, uint32(c.base.prio))
		nb.unnest(h)
		nb.u32(unix.NFTA_CHAIN_POLICY, uint32(nftables.ChainPolicyAccept))
		nb.str(unix.NFTA_CHAIN_TYPE, string(c.base.typ))
	}
	nb.end(at)
}

// chainMsg is DELCHAIN, or DELRULE without a handle, which flushes the chain.
func (nb *nlBatch) chainMsg(typ uint16, name string) {
	at := nb.begin(batchMsgs|typ, unix.NLM_F_REQUEST)
	if typ == unix.NFT_MSG_DELRULE {
		nb.str(unix.NFTA_RULE_TABLE, nb.table)
		nb.str(unix.NFTA_RULE_CHAIN, name)
	} else {
		nb.str(unix.NFTA_CHAIN_TABLE, nb.table)
		nb.str(unix.NFTA_CHAIN_NAME, name)
	}
	nb.end(at)
}

func (nb *nlBatch) addRule(chainName string, exprs []expr.Any) {
	at := nb.begin(batchMsgs|unix.NFT_MSG_NEWRULE, unix.NLM_F_REQUEST|unix.NLM_F_CREATE|unix.NLM_F_APPEND)
	nb.str(unix.NFTA_RULE_TABLE, nb.table)
	nb.str(unix.NFTA_RULE_CHAIN, chainName)
	list := nb.nest(unix.NFTA_RULE_EXPRESSIONS)
	for _, x := range exprs {
		data, err := expr.Marshal(byte(nftables.TableFamilyIPv4), x)
		if err != nil {
			nb.fail(err)
			continue
		}
		nb.attr(unix.NFTA_LIST_ELEM|unix.NLA_F_NESTED, data)
	}
	nb.unnest(list)
	nb.end(at)
}

// Set flags and user data as nft (and google/nftables) send them.
const (
	setFlagConcat   = 0x80 // NFT_SET_CONCAT
	setDescConcat   = 2    // NFTA_SET_DESC_CONCAT
	udataKeyOrder   = 0    // NFTNL_UDATA_SET_KEYBYTEORDER
	byteOrderHost   = 1
	verdictDataType = 0xffffff00 // NFT_DATA_VERDICT
	verdictGoto     = 0xfffffffc // NFT_GOTO, -4
	setFieldLen     = 1          // NFTA_SET_FIELD_LEN
)

// addMap adds a named verdict map keyed by a concatenation.
func (nb *nlBatch) addMap(m mapDef) {
	kt := m.keyType()
	at := nb.begin(batchMsgs|unix.NFT_MSG_NEWSET, unix.NLM_F_REQUEST|unix.NLM_F_CREATE)
	nb.str(unix.NFTA_SET_TABLE, nb.table)
	nb.str(unix.NFTA_SET_NAME, m.name)
	nb.u32(unix.NFTA_SET_FLAGS, unix.NFT_SET_MAP|setFlagConcat)
	nb.u32(unix.NFTA_SET_KEY_TYPE, kt.GetNFTMagic())
	nb.u32(unix.NFTA_SET_KEY_LEN, kt.Bytes)
	nb.setID++
	nb.u32(unix.NFTA_SET_ID, nb.setID)
	nb.u32(unix.NFTA_SET_DATA_TYPE, verdictDataType)
	nb.u32(unix.NFTA_SET_DATA_LEN, 0)
	desc := nb.nest(unix.NFTA_SET_DESC)
	concat := nb.nest(setDescConcat)
	for _, part := range nftables.ConcatSetTypeElements(kt) {
		f := nb.nest(unix.NFTA_LIST_ELEM)
		nb.u32(setFieldLen, part.Bytes)
		nb.unnest(f)
	}
	nb.unnest(concat)
	nb.unnest(desc)
	nb.end(at)
}

// addEpsMap adds a service port's endpoint map: a 32-bit integer in host
// order (numgen's result) -> ipv4_addr . inet_service. Its user data is
// what nft stores for "typeof numgen random mod N : ip daddr . tcp dport",
// so that nft lists the map as it would have created it.
func (nb *nlBatch) addEpsMap(m *epsMap) {
	at := nb.begin(batchMsgs|unix.NFT_MSG_NEWSET, unix.NLM_F_REQUEST|unix.NLM_F_CREATE)
	nb.str(unix.NFTA_SET_TABLE, nb.table)
	nb.str(unix.NFTA_SET_NAME, m.name)
	nb.u32(unix.NFTA_SET_FLAGS, unix.NFT_SET_MAP)
	nb.u32(unix.NFTA_SET_KEY_TYPE, nftables.TypeInteger.GetNFTMagic())
	nb.u32(unix.NFTA_SET_KEY_LEN, 4)
	dt := nftables.MustConcatSetType(nftables.TypeIPAddr, nftables.TypeInetService)
	nb.u32(unix.NFTA_SET_DATA_TYPE, dt.GetNFTMagic())
	nb.u32(unix.NFTA_SET_DATA_LEN, dt.Bytes)
	nb.setID++
	nb.u32(unix.NFTA_SET_ID, nb.setID)
	nb.attr(unix.NFTA_SET_USERDATA, epsUserData(m))
	nb.end(at)
}

// nft's user data: type-length-value with one-byte type and length.
// Expression ids and payload descriptions are nft's (numgen 23, concat
// 13, payload 7; ip 12 with daddr field 12, tcp 8 and udp 6 with dport
// field 2).
const (
	udataKeyTypeof    = 3
	udataDataTypeof   = 4
	udataDataInterval = 6
	nftExprNumgen     = 23
	nftExprConcat     = 13
	nftExprPayload    = 7
	nftProtoIP        = 12
	nftIPDaddr        = 12
	nftProtoTCP       = 8
	nftProtoUDP       = 6
	nftThDport        = 2
)

func udataTLV(b []byte, typ byte, v []byte) []byte {
	return append(append(b, typ, byte(len(v))), v...)
}

func udataU32(b []byte, typ byte, v uint32) []byte {
	return udataTLV(b, typ, binary.NativeEndian.AppendUint32(nil, v))
}

func udataExpr(typ uint32, data []byte) []byte {
	return udataTLV(udataU32(nil, 0, typ), 1, data)
}

func epsUserData(m *epsMap) []byte {
	numgen := udataU32(udataU32(udataU32(nil, 0, unix.NFT_NG_RANDOM), 1, m.size), 2, 0)
	proto := uint32(nftProtoTCP)
	if m.proto == unix.IPPROTO_UDP {
		proto = nftProtoUDP
	}
	daddr := udataExpr(nftExprPayload, udataU32(udataU32(nil, 0, nftProtoIP), 1, nftIPDaddr))
	dport := udataExpr(nftExprPayload, udataU32(udataU32(nil, 0, proto), 1, nftThDport))
	concat := udataExpr(nftExprConcat, udataTLV(udataTLV(nil, 0, daddr), 1, dport))
	b := udataU32(nil, udataKeyOrder, byteOrderHost)
	b = udataU32(b, 1, 0) // data byte order: as its types say
	b = udataTLV(b, udataKeyTypeof, udataExpr(nftExprNumgen, numgen))
	b = udataTLV(b, udataDataTypeof, concat)
	return udataU32(b, udataDataInterval, 0)
}

// delSet deletes a named set.
func (nb *nlBatch) delSet(name string) {
	at := nb.begin(batchMsgs|unix.NFT_MSG_DELSET, unix.NLM_F_REQUEST)
	nb.str(unix.NFTA_SET_TABLE, nb.table)
	nb.str(unix.NFTA_SET_NAME, name)
	nb.end(at)
}

// epsElems adds (or, with del, deletes) elements of an endpoint map.
func (nb *nlBatch) epsElems(set string, es []epsElem, del bool) {
	nb.setElems(set, len(es), del, func(i int) {
		item := nb.nest(unix.NFTA_LIST_ELEM)
		k := nb.nest(unix.NFTA_SET_ELEM_KEY)
		nb.attr(unix.NFTA_DATA_VALUE, binary.NativeEndian.AppendUint32(nil, es[i].slot))
		nb.unnest(k)
		if !del {
			a := es[i].addr.As4()
			d := nb.nest(unix.NFTA_SET_ELEM_DATA)
			nb.attr(unix.NFTA_DATA_VALUE, append(a[:], byte(es[i].port>>8), byte(es[i].port), 0, 0))
			nb.unnest(d)
		}
		nb.unnest(item)
	})
}

// elem adds one element, key -> goto target (no target: a key to delete).
func (nb *nlBatch) elem(key []byte, target string) {
	item := nb.nest(unix.NFTA_LIST_ELEM)
	k := nb.nest(unix.NFTA_SET_ELEM_KEY)
	nb.attr(unix.NFTA_DATA_VALUE, key)
	nb.unnest(k)
	if target != "" {
		d := nb.nest(unix.NFTA_SET_ELEM_DATA)
		v := nb.nest(unix.NFTA_DATA_VERDICT)
		nb.u32(unix.NFTA_VERDICT_CODE, verdictGoto)
		nb.str(unix.NFTA_VERDICT_CHAIN, target)
		nb.unnest(v)
		nb.unnest(d)
	}
	nb.unnest(item)
}

// elems adds (or, with del, deletes) elements of a named map.
func (nb *nlBatch) elems(set string, es []elem, del bool) {
	nb.setElems(set, len(es), del, func(i int) {
		target := es[i].chain
		if del {
			target = ""
		}
		nb.elem(es[i].key.bytes(), target)
	})
}

// setElems adds (or, with del, deletes) n elements of a named set or map,
// as many per message as an attribute holds; put writes element i.
func (nb *nlBatch) setElems(set string, n int, del bool, put func(i int)) {
	typ := uint16(unix.NFT_MSG_NEWSETELEM)
	flags := uint16(unix.NLM_F_REQUEST | unix.NLM_F_CREATE)
	if del {
		typ, flags = unix.NFT_MSG_DELSETELEM, unix.NLM_F_REQUEST
	}
	for i := 0; i < n; {
		at := nb.begin(batchMsgs|typ, flags)
		nb.str(unix.NFTA_SET_ELEM_LIST_SET, set)
		nb.str(unix.NFTA_SET_ELEM_LIST_TABLE, nb.table)
		list := nb.nest(unix.NFTA_SET_ELEM_LIST_ELEMENTS)
		for ; i < n && len(nb.b)-list < elemBudget; i++ {
			put(i)
		}
		nb.unnest(list)
		nb.end(at)
	}
}

// finish closes the batch: the last message asks for the one ack.
func (nb *nlBatch) finish() (last uint32) {
	if nb.msgs > 0 {
		flags := binary.NativeEndian.Uint16(nb.b[nb.last+6:])
		binary.NativeEndian.PutUint16(nb.b[nb.last+6:], flags|unix.NLM_F_ACK)
	}
	last = nb.seq
	nb.ctrl(unix.NFNL_MSG_BATCH_END)
	return last
}

// sendBatch writes the batch on the netlink socket and waits for the
// ack of its last message. The kernel reports the failing messages
// (and a failed commit, addressed to the batch-begin message) before that
// ack; all of them are read, so that none is left for the next request.
func sendBatch(rc syscall.RawConn, b []byte, first, last uint32) error {
	var serr error
	err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	})
	if err = errors.Join(err, serr); err != nil {
		return fmt.Errorf("sendmsg: %w", err)
	}
	buf := make([]byte, 1<<16)
	var errs []error
	done := false
	for {
		var n int
		var rerr error
		wait := !done
		err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return !wait || rerr != unix.EAGAIN
		})
		if err != nil {
			return errors.Join(append(errs, fmt.Errorf("recvmsg: %w", err))...)
		}
		if rerr == unix.EAGAIN && done {
			break
		}
		if rerr != nil {
			return errors.Join(append(errs, fmt.Errorf("recvmsg: %w", rerr))...)
		}
		for m := buf[:n]; len(m) >= nlmsgHdr; {
			l := int(binary.NativeEndian.Uint32(m))
			if l < nlmsgHdr || l > len(m) {
				break
			}
			typ := binary.NativeEndian.Uint16(m[4:])
			seq := binary.NativeEndian.Uint32(m[8:])
			if typ == unix.NLMSG_ERROR && l >= nlmsgHdr+4 && seq >= first && seq <= last+1 {
				if code := int32(binary.NativeEndian.Uint32(m[nlmsgHdr:])); code != 0 {
					errs = append(errs, fmt.Errorf("message %d of %d: %w", seq-first, last-first, unix.Errno(-code)))
				}
				if seq == last || seq == first && len(errs) > 0 {
					done = true
				}
			}
			m = m[min(nlmsgAlign(l), len(m)):]
		}
	}
	return errors.Join(errs...)
}

func nlmsgAlign(n int) int { return (n + unix.NLMSG_ALIGNTO - 1) &^ (unix.NLMSG_ALIGNTO - 1) }
