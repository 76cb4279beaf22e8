package mqttlink_test

import (
	"testing"
	"time"

	"github.com/outpost-edge/outpost/internal/clock"
	"github.com/outpost-edge/outpost/sync/mqttlink"
	"github.com/outpost-edge/outpost/sync/mqtttest"
)

// BenchmarkIdleBandwidth measures what an idle node costs on the wire per
// day at the default settings (status interval 1s, heartbeat 60s,
// keep-alive 30s): a real link over a real store, talking to mosquitto
// through a counting TCP relay, with nothing changing in the store.
//
// How the figure is computed:
//
//  1. The link runs on a fake clock (Params.Clock), which drives its
//     backoff, its 1s status ticks and so its heartbeats. Once connected and
//     its first NodeReport acknowledged, the relay's counters are zeroed:
//     the one-time costs of a connection (CONNECT, SUBSCRIBE, online flag,
//     the full report) are not counted.
//  2. The clock is advanced one second at a time through b.N simulated
//     hours, each step once the status loop waits for its next tick, so
//     every heartbeat (PUBLISH of the Heartbeat, PUBACK back) crosses the
//     relay for real. Measured: bytes both ways, MQTT packet payloads and
//     headers (TCP payload), per simulated hour.
//  3. paho's keep-alive runs on the wall clock and cannot be fast-forwarded,
//     so PINGREQ/PINGRESP are taken out of the measurement (the relay counts
//     them by type; 2 bytes each) and added analytically: paho pings when
//     nothing was sent or received for keepAlive, checking every 5s; with
//     a heartbeat every 60s and keepAlive 30s, that is one PINGREQ (2 bytes
//     up) and one PINGRESP (2 bytes down) per heartbeat interval, i.e.
//     floor((heartbeat-1ns)/keepAlive) pings per interval. (Checked on the
//     wall clock at a smaller scale, heartbeat 4s and keepAlive 2s: 10
//     heartbeats and 10 pings in 40s.)
//  4. KB-per-day = (measured bytes per hour + pings per hour × 4) × 24 / 1000.
//
// KB-per-day-ip-est adds an estimate of what TCP/IP adds (not measured): 52
// bytes of IPv4+TCP headers with timestamps per segment, three segments per
// exchange (the request, the response carrying the request's ACK, the pure
// ACK of the response). TLS would add ~30 bytes per record on top.
func BenchmarkIdleBandwidth(b *testing.B) {
	br := mqtttest.Start(b, mqtttest.Options{})
	relay := mqtttest.NewRelay(b, br.Addr())
	cfg := mqttlink.DefaultConfig()
	cfg.Brokers = []string{relay.URL()}
	clk := clock.NewFake(time.Date(2027, 1, 15, 8, 0, 0, 0, time.UTC))
	// A node name as long as the examples' ("pi-0042"): it is in every topic.
	n := mqtttest.StartNode(b, cfg, "pi-0042", mqtttest.NodeOptions{Clock: clk})

	step := func() {
		if !clk.BlockUntil(1, 10*time.Second) {
			b.Fatal("the link does not wait on its clock")
		}
		clk.Advance(time.Second)
	}
	for !n.Connected() || n.Link.State().Reports.Reports == 0 {
		step()
	}
	if !clk.BlockUntil(1, 10*time.Second) {
		b.Fatal("status loop does not tick")
	}
	// Every PUBLISH is QoS 1: once each has its PUBACK back through the
	// relay, nothing of the start-up is in flight.
	acked := func() {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
			pubs, _ := relay.Packets(mqtttest.Publish)
			_, acks := relay.Packets(mqtttest.Puback)
			if acks >= pubs {
				return
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d PUBLISH up, %d PUBACK down after 30 s", pubs, acks)
			}
		}
	}
	acked()
	relay.ResetCounts()
	beats0 := n.Link.State().Reports.Heartbeats

	b.ResetTimer()
	for range b.N * 3600 {
		step()
	}
	if !clk.BlockUntil(1, 10*time.Second) {
		b.Fatal("status loop does not tick")
	}
	b.StopTimer()
	acked()

	hours := float64(b.N)
	up, down := relay.Bytes()
	pingUp, pingDown := relay.Packets(mqtttest.Pingreq)
	pongUp, pongDown := relay.Packets(mqtttest.Pingresp)
	measured := float64(up+down) - 2*float64(pingUp+pingDown+pongUp+pongDown)
	pubs, _ := relay.Packets(mqtttest.Publish)
	_, acks := relay.Packets(mqtttest.Puback)
	st := n.Link.State()
	beats := st.Reports.Heartbeats - beats0

	pingsPerInterval := float64((cfg.Heartbeat - 1) / cfg.KeepAlive)
	beatsPerHour := float64(beats) / hours
	pingsPerHour := beatsPerHour * pingsPerInterval
	perHour := measured/hours + pingsPerHour*4
	perDay := perHour * 24
	exchangesPerDay := (float64(pubs)/hours + pingsPerHour) * 24
	b.ReportMetric(perDay/1000, "KB-per-day")
	b.ReportMetric((perDay+exchangesPerDay*3*52)/1000, "KB-per-day-ip-est")
	b.ReportMetric(beatsPerHour*24, "heartbeats-per-day")
	b.ReportMetric(0, "ns/op")
	b.Logf("per simulated hour (%d simulated): %.0f bytes measured (%.0f up, %.0f down; %.0f PUBLISH, %.0f PUBACK, %.0f heartbeats of %d bytes payload), "+
		"+ %.0f pings × 4 bytes analytical (%d pings seen on the wall clock, taken out)",
		b.N, measured/hours, float64(up)/hours, float64(down)/hours, float64(pubs)/hours, float64(acks)/hours, beatsPerHour,
		st.Reports.LastHeartbeatBytes, pingsPerHour, pingUp+pingDown)
	if beats == 0 || pubs != int64(beats) {
		b.Fatalf("%d heartbeats but %d PUBLISH packets seen: the link sent something else while idle", beats, pubs)
	}
}
