package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/cmd/outpostctl/fleet"
	"github.com/outpost-edge/outpost/internal/cli"
)

// runApply publishes the next desired document of a node or a group.
func runApply(args []string, stdout, stderr io.Writer) error {
	fl := cli.NewFlagSet("apply", "outpostctl apply -f FILE|DIR|- [-f ...] (--node N | --group G) [--key K [--reset]] [--wait [--timeout 60s]]", stderr)
	var cf connFlags
	cf.register(fl.FlagSet)
	var files, nodes cli.StringList
	fl.Var(&files, "f", "manifest file, or directory of *.yaml, *.yml, *.json, or - for stdin (repeatable)")
	node := fl.String("node", "", "publish this node's own document")
	group := fl.String("group", "", "publish this group's document")
	keyFile := fl.String("key", "", "sign with this ed25519 private key (PEM PKCS#8, as keygen writes)")
	keyID := fl.String("key-id", "", "key id the nodes trust the key under (default derived from the key, as keygen prints)")
	wait := fl.Bool("wait", false, "wait until the node(s) report the generation observed")
	timeout := fl.Duration("timeout", 60*time.Second, "how long --wait waits")
	fl.Var(&nodes, "nodes", "with --wait and --group: the members to wait for (repeatable or comma-separated; default: the nodes that report the group)")
	force := fl.Bool("force", false, "publish a new generation even when nothing changed")
	dryRun := fl.Bool("dry-run", false, "print the document that would be published, publish nothing")
	reset := fl.Bool("reset", false, "publish a generation reset: generation 1, taken by nodes stuck at a generation nothing can follow (needs --key)")
	resetFrom := fl.Int64("reset-from", 0, "with --reset: the stuck generation to reset (default: the one the node(s) report)")
	if _, err := fl.Parse(args, 0, 0); err != nil {
		return err
	}
	tgt := fleet.Target{Node: *node, Group: *group}
	switch err := tgt.Validate(); {
	case len(files) == 0:
		return fl.Fail("-f is required")
	case err != nil:
		return fl.Fail("%v", err)
	case *resetFrom != 0 && !*reset:
		return fl.Fail("--reset-from goes with --reset")
	}
	state, err := loadState(files)
	if err != nil {
		return err
	}
	var signer *fleet.Signer
	if *keyFile != "" {
		if signer, err = fleet.LoadSigner(*keyFile, *keyID); err != nil {
			return err
		}
	}
	ctx, cancel := cliContext()
	defer cancel()
	c, err := cf.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()

	var w *fleet.Watcher
	if *wait && !*dryRun {
		// Before publishing: a node's rejection event is not retained.
		if w, err = c.Watch(ctx, tgt, splitList(nodes)); err != nil {
			return err
		}
		defer w.Close()
	}
	actx, acancel := context.WithTimeout(ctx, connectTimeout)
	res, err := c.Apply(actx, tgt, state, fleet.ApplyOptions{Signer: signer, Force: *force, DryRun: *dryRun, Reset: *reset, ResetFrom: *resetFrom})
	acancel()
	if err != nil {
		return err
	}
	if *dryRun {
		fmt.Fprintf(stdout, "%s\n", res.Payload)
		return nil
	}
	fmt.Fprintln(stdout, applyLine(res, state, signer))
	if w == nil {
		return nil
	}
	began := time.Now()
	if len(w.Members()) == 0 {
		fmt.Fprintf(stderr, "no node reports %s yet (a node lists a group once it stored a document of it): waiting for the first; --nodes names them\n", tgt)
	}
	wctx, wcancel := context.WithTimeout(ctx, *timeout)
	defer wcancel()
	p, err := w.WaitResult(wctx, res)
	printProgress(stdout, p, time.Since(began))
	if errors.Is(err, fleet.ErrPending) || errors.Is(err, fleet.ErrRejected) {
		fmt.Fprintf(stderr, "%v\n", err)
		return exitError{Code: 1}
	}
	return err
}

func applyLine(res fleet.ApplyResult, st *api.NodeState, s *fleet.Signer) string {
	if res.Unchanged {
		return fmt.Sprintf("%s unchanged (generation %d)", res.Target, res.Generation)
	}
	line := fmt.Sprintf("%s generation %d published (%s, %s", res.Target, res.Generation,
		plural(len(st.Pods), "pod"), plural(len(st.Services), "service"))
	if s != nil {
		line += ", signed by " + s.KeyID
	}
	if res.ResetFrom != 0 {
		line += fmt.Sprintf(", a reset from generation %d", res.ResetFrom)
	}
	return line + ")"
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func splitList(l cli.StringList) []string {
	var out []string
	for _, v := range l {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// loadState reads every manifest named by the -f arguments and assembles
// one NodeState.
func loadState(args []string) (*api.NodeState, error) {
	var ms []fleet.Manifest
	paths, err := api.ManifestFiles(args...)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		data, err := api.ReadManifestFile(p)
		if err != nil {
			return nil, err
		}
		ms = append(ms, fleet.Manifest{Name: p, Data: data})
	}
	return fleet.Assemble(ms)
}

// runSign prints the Signed envelope of a document, for a control plane
// that publishes by other means. The signature names the topic the
// document is for (as apply names it: --node or --group, under the
// prefix); nodes reject it on any other.
func runSign(args []string, stdout, stderr io.Writer) error {
	fl := cli.NewFlagSet("sign", "outpostctl sign -f FILE [-f ...] --key KEYFILE (--node N | --group G) [--prefix P] [--key-id ID] [--generation N]", stderr)
	var cf connFlags
	cf.registerTopics(fl.FlagSet)
	var files cli.StringList
	fl.Var(&files, "f", "manifest file, directory or - (repeatable)")
	node := fl.String("node", "", "sign for this node's own desired topic ({prefix}/nodes/N/desired)")
	group := fl.String("group", "", "sign for this group's desired topic ({prefix}/groups/G/desired)")
	keyFile := fl.String("key", "", "ed25519 private key (PEM PKCS#8)")
	keyID := fl.String("key-id", "", "key id (default derived from the key)")
	gen := fl.Int64("generation", 0, "the document's generation (default: that of a single NodeState file)")
	if _, err := fl.Parse(args, 0, 0); err != nil {
		return err
	}
	if len(files) == 0 || *keyFile == "" {
		return fl.Fail("-f and --key are required")
	}
	tgt := fleet.Target{Node: *node, Group: *group}
	if err := tgt.Validate(); err != nil {
		return fl.Fail("an envelope is signed for the one topic it is published on: give --node N or --group G (under --prefix, else the --config file's, else outpost/v1); %v", err)
	}
	prefix, err := cf.prefix()
	if err != nil {
		return err
	}
	signer, err := fleet.LoadSigner(*keyFile, *keyID)
	if err != nil {
		return err
	}
	state, err := loadState(files)
	if err != nil {
		return err
	}
	g := *gen
	if g == 0 {
		if g = singleGeneration(files); g == 0 {
			return fl.Fail("--generation N is needed (the input is not one NodeState with a generation)")
		}
	}
	topic := tgt.DesiredTopic(prefix)
	payload, err := fleet.Encode(topic, state, g, signer)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", payload)
	fmt.Fprintf(stderr, "signed for %s: nodes accept it on that topic only (publish it retained, QoS 1)\n", topic)
	return nil
}

// singleGeneration is the generation of the only file, when it is a
// NodeState that has one; else 0.
func singleGeneration(files []string) int64 {
	if len(files) != 1 || files[0] == "-" {
		return 0
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		return 0
	}
	ns, err := api.ParseNodeState(data)
	if err != nil {
		return 0
	}
	return ns.Generation
}

// runKeygen writes a new signing key and prints what the nodes trust.
func runKeygen(args []string, stdout, stderr io.Writer) error {
	fl := cli.NewFlagSet("keygen", "outpostctl keygen -o FILE [--key-id ID]", stderr)
	out := fl.String("o", "", "private key file to create (mode 0600; never overwritten)")
	keyID := fl.String("key-id", "", "key id (default \"ed25519-\" and 16 hex digits of the public key's SHA-256)")
	if _, err := fl.Parse(args, 0, 0); err != nil {
		return err
	}
	if *out == "" {
		return fl.Fail("-o is required")
	}
	s, err := fleet.GenerateKey(*keyID)
	if err != nil {
		return err
	}
	if err := fleet.WriteKey(*out, s.Key); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "private key: %s (mode 0600; keep it secret)\nkey id:      %s\npublic key:  %s\n\n", *out, s.KeyID, s.PublicKey())
	fmt.Fprintf(stdout, "nodes trust it with, in their configuration:\nmqtt:\n  trustedKeys:\n    %s: %s\n", s.KeyID, s.PublicKey())
	if *keyID != "" {
		fmt.Fprintf(stdout, "\nsign with: outpostctl apply --key %s --key-id %s ...\n", *out, s.KeyID)
	}
	return nil
}
