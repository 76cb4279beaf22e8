package agent

import (
	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/runtime/runtimeapi"
)

func eventOf(id string, exit runtimeapi.Exit) runtimeapi.Event {
	return runtimeapi.Event{Kind: runtimeapi.EventExit, ContainerID: id, Exit: exit}
}

// publish computes the pod's status and hands it to the status manager.
// A pod that has ended (Succeeded or Failed: none of its containers will
// run again) no longer holds its admission, as kubelet does not count
// terminated pods: it frees its requests and its place under maxPods, and
// the evictor, which frees nothing by stopping it, no longer sees it.
func (w *podWorker) publish() {
	if w.pod == nil {
		return
	}
	st := w.podStatus()
	if st.Phase == api.PodSucceeded || st.Phase == api.PodFailed {
		w.a.release(w.uid)
	}
	w.a.status.set(st)
}

func (w *podWorker) podStatus() api.PodStatus {
	st := api.PodStatus{Source: w.ref.Source, Name: w.pod.Metadata.Name, UID: w.uid, SpecHash: w.hash}
	if !w.startTime.IsZero() {
		t := w.startTime.UTC()
		st.StartTime = &t
	}
	if w.sandbox != nil {
		if ip, ok := w.sandboxIP(); ok {
			st.PodIP = ip
		}
	}
	initDone := true
	for i := range w.pod.Spec.InitContainers {
		cs := w.containerStatus(&w.pod.Spec.InitContainers[i], true)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		if cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
			initDone = false
		}
	}
	allReady := true
	running, succeeded, failed, waiting := 0, 0, 0, 0
	for i := range w.pod.Spec.Containers {
		cs := w.containerStatus(&w.pod.Spec.Containers[i], false)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && cs.Ready
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			succeeded++
		case cs.State.Terminated != nil:
			failed++
		case cs.RestartCount > 0:
			running++ // restarting: the pod is running, the container is in backoff
		default:
			waiting++
		}
	}
	switch {
	case w.rejected != nil:
		st.Phase, st.Reason, st.Message = api.PodFailed, w.rejected.reason, w.rejected.message
	case !initDone && w.initFailed():
		st.Phase = api.PodFailed
	case !initDone:
		st.Phase = api.PodPending
	case waiting > 0 && running == 0:
		st.Phase = api.PodPending
	case running > 0:
		st.Phase = api.PodRunning
	case failed > 0:
		st.Phase = api.PodFailed
	case succeeded > 0:
		st.Phase = api.PodSucceeded
	default:
		st.Phase = api.PodPending
	}
	ready := allReady && running > 0 && st.Phase == api.PodRunning
	st.Conditions = []api.PodCondition{
		w.condition(api.PodInitialized, initDone, ""),
		w.condition(api.PodContainersReady, ready, "ContainersNotReady"),
		w.condition(api.PodReady, ready, "ContainersNotReady"),
	}
	return st
}

func (w *podWorker) initFailed() bool {
	if w.pod.Spec.RestartPolicy != api.RestartNever {
		return false
	}
	for _, st := range w.ctrs {
		if st.init && st.exit != nil && st.exit.Code != 0 {
			return true
		}
	}
	return false
}

// condition keeps the transition time of a condition until its status changes.
func (w *podWorker) condition(typ string, ok bool, falseReason string) api.PodCondition {
	status, reason := api.ConditionFalse, falseReason
	if ok {
		status, reason = api.ConditionTrue, ""
	}
	prev, seen := w.conds[typ]
	if seen && prev.Status == status {
		return prev
	}
	c := api.PodCondition{Type: typ, Status: status, Reason: reason, LastTransitionTime: w.a.clock.Now().UTC().Truncate(1e9)}
	w.conds[typ] = c
	return c
}

func (w *podWorker) containerStatus(c *api.Container, init bool) api.ContainerStatus {
	s, ok := w.ctrs[c.Name]
	cs := api.ContainerStatus{Name: c.Name, Image: c.Image}
	if !ok {
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: "PodInitializing"}
		if w.rejected != nil {
			cs.State.Waiting.Reason = w.rejected.reason
		}
		return cs
	}
	cs.RestartCount = int32(s.restarts)
	cs.ContainerID = s.id
	if s.imageID != "" {
		cs.Image, cs.ImageID = s.image, s.imageID
	}
	if s.lastTerm != nil {
		cs.LastState.Terminated = s.lastTerm
	}
	switch {
	case s.running:
		cs.State.Running = &api.ContainerStateRunning{StartedAt: s.startedAt.UTC()}
		cs.Ready = s.ready && !init
		cs.Started = s.started
	case s.waitReason != "" || s.waitingBackoff:
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: s.waitReason, Message: s.waitMessage}
		if s.exit != nil {
			cs.LastState.Terminated = terminated(s.exit, s.startedAt)
		}
	case s.exit != nil:
		cs.State.Terminated = terminated(s.exit, s.startedAt)
	default:
		cs.State.Waiting = &api.ContainerStateWaiting{Reason: "PodInitializing"}
	}
	return cs
}

func (w *podWorker) sandboxIP() (string, bool) {
	ip, ok := w.sandbox.IP()
	if !ok || !ip.IsValid() {
		return "", false
	}
	return ip.String(), true
}
