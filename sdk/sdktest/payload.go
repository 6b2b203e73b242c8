package sdktest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ifsock/ifsock/sdk"
)

// stream is a reproducible sequence of pseudo-random bytes: what a sender
// sends in pieces, a checker regenerates in one go.
type stream struct{ r *rand.ChaCha8 }

func newStream(seed uint64) *stream {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	return &stream{rand.NewChaCha8(key)}
}

// next returns the stream's next n bytes.
func (s *stream) next(n int) []byte {
	b := make([]byte, n)
	_, _ = s.r.Read(b)
	return b
}

// pattern returns n bytes of the stream seed.
func pattern(n int, seed uint64) []byte { return newStream(seed).next(n) }

// compare fails t when got differs from want, saying where.
func compare(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if err := diff(got, want); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// diff describes how got differs from want, or returns nil.
func diff(got, want []byte) error {
	if bytes.Equal(got, want) {
		return nil
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	if i == min(len(got), len(want)) {
		return fmt.Errorf("got %d bytes, want %d (the first %d are equal)", len(got), len(want), i)
	}
	return fmt.Errorf("got %d bytes, want %d; they differ from byte %d on (got %#x, want %#x): bytes lost, reordered or reused by the driver",
		len(got), len(want), i, got[i], want[i])
}

// gone reports whether err says a socket is no longer there, which an echo
// or a sender may meet when the other side closes.
func gone(err error) bool {
	return errors.Is(err, sdk.ErrClosed) || errors.Is(err, sdk.ErrReset) ||
		errors.Is(err, sdk.ErrPeerClosed) || errors.Is(err, sdk.ErrNotOpen)
}

// ctxErr reports whether err says a context ended.
func ctxErr(err error) bool {
	return errors.Is(err, sdk.ErrTimeout) || errors.Is(err, sdk.ErrCanceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// wantErr fails t unless err is kind.
func wantErr(t testing.TB, call string, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s = %v, want %v (errors.Is)", call, err, kindName(kind))
	}
}

// kindName names a sentinel by its code.
func kindName(kind error) string { return "the " + string(sdk.CodeOf(kind)) + " error" }
