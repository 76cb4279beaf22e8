// Package report sends what the node has to say over a connected link: the
// status snapshot (coalesced, at most once per interval, a heartbeat when
// nothing changed) and the store's outbox (events and anything else queued
// while offline), in order, acknowledging each outbox message only after the
// broker acknowledged it.
//
// It reads the store and hands messages to a Publisher; it knows nothing of
// the broker client.
package report

import "context"

// Publisher hands one message to the broker client and returns at once; the
// returned wait blocks until the broker acknowledged the message (QoS 1), the
// connection is gone, or ctx is done.
type Publisher interface {
	Publish(topic string, qos byte, retain bool, payload []byte) (wait func(ctx context.Context) error)
}
