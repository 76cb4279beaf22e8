package localapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/outpost-edge/outpost/api"
	"github.com/outpost-edge/outpost/store"
)

// apply makes the manifest in the body part of the static source.
func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	// One byte more than a document may hold, so the parser reports an
	// oversized one without the whole of it being read.
	data, err := io.ReadAll(io.LimitReader(r.Body, api.MaxDocumentBytes+1))
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: reading the manifest: %w", ErrInvalid, err))
		return
	}
	sum, err := s.b.ApplyStatic(r.Context(), data)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	for _, c := range sum.Changes {
		s.log.Info().Str("kind", c.Kind).Str("name", c.Name).Str("action", c.Action).Str("file", c.File).Msg("static manifest applied")
	}
	s.writeJSON(w, http.StatusOK, sum)
}

// deletePod removes a static pod. A pod of another source can only be
// removed by the control plane: that is a conflict, not a missing pod.
func (s *Server) deletePod(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	sum, err := s.b.DeleteStaticPod(r.Context(), name)
	if errors.Is(err, ErrNotFound) {
		if m, derr := s.b.Desired(r.Context()); derr == nil {
			for _, p := range m.Pods {
				if p.Pod.Metadata.Name == name && p.Source != store.SourceStatic {
					err = fmt.Errorf("%w: pod %q comes from %s, not from the manifest directory: only the control plane can remove it",
						ErrConflict, name, p.Source)
				}
			}
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.log.Info().Str("pod", name).Msg("static pod deleted")
	s.writeJSON(w, http.StatusOK, sum)
}
