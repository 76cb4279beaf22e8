package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/outpost-edge/outpost/agent/localapi"
	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/sync/mqttlink"
)

func TestPrintStatus(t *testing.T) {
	conflict := nameConflictCondition(&mqttlink.NameConflict{OtherInstance: "fedcba9876543210", Since: t0.Add(-time.Minute)}, t0)
	v := localapi.StatusView{
		Node: localapi.NodeView{Name: "outpost-a1b2c3d4", AgentStarted: t0.Add(-time.Hour), Status: &api.NodeStatus{
			Time:       t0.Add(-5 * time.Second),
			NodeInfo:   api.NodeInfo{AgentVersion: "v0.3.0", ContainerdVersion: "v2.1.0", InstanceID: "0123456789abcdef", PublicKey: "cHVibGlj"},
			Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}, nameConflictCondition(nil, t0), conflict},
		}},
		Link:        localapi.LinkState{State: "connected", LastConnect: t0.Add(-time.Minute)},
		Generations: map[string]int64{"remote:node": 3},
		Pods:        localapi.PodCounts{Total: 1, Ready: 1, ByPhase: map[string]int{"Running": 1}},
	}
	var b bytes.Buffer
	if err := printStatus(&b, v, t0); err != nil {
		t.Fatal(err)
	}
	want := `Node:                 outpost-a1b2c3d4 Ready,NodeNameConflict (agent v0.3.0, containerd v2.1.0, reported 5s ago)
Agent up:             60m
  NodeNameConflict:   another device (instance fedcba9876543210) uses this node name: remote documents for it are not applied and its status is not published; stored pods keep running. Give each device its own nodeName and restart
Identity:             instance 0123456789abcdef, public key cHVibGlj
Link:                 connected, last connected 60s ago
Outbox:               0 message(s), 0 B, 0 dropped
Pods:                 1, 1 ready (1 running)
Services:             0
Sources:
  remote:node:   generation 3
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
