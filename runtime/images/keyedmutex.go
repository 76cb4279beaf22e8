package images

import (
	"context"
	"sync"
)

// keyedMutex is a mutex per key whose lock gives up when ctx is done
// and the key is held; with a done ctx it is a try-lock.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]chan struct{} // closed on unlock
}

func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	for {
		k.mu.Lock()
		held, ok := k.locks[key]
		if !ok {
			ch := make(chan struct{})
			k.locks[key] = ch
			k.mu.Unlock()
			return func() {
				k.mu.Lock()
				delete(k.locks, key)
				k.mu.Unlock()
				close(ch)
			}, nil
		}
		k.mu.Unlock()
		select {
		case <-held:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
