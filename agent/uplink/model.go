package uplink

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/posoffer/posoffer/protocol/catalogsig"
	"github.com/posoffer/posoffer/protocol/decide"
)

// HQ's suggestion model (docs/decide.md) is the key decide.ModelKey of the
// KV bucket decide.Bucket, signed like catalog values. The uplink applies
// a value only when HQ's key signed it for that key (or, AllowUnsigned,
// whatever it is), it parses (decide.ParseModel), and neither its
// revision nor its signed sequence is older than those of the newest
// model applied, which the store keeps with the model itself. A model of
// the revision applied is not applied again. A refusal is counted in
// posoffer_decide_model_refused_total by reason and logged once; the agent
// keeps choosing with the model it has. A bucket that does not exist is
// an HQ older than models: the watch waits for it quietly.

// errNoModelBucket: HQ has no model bucket (yet).
var errNoModelBucket = errors.New("no model bucket at hq")

// errRewatch: the watch starts over (modelRewatch).
var errRewatch = errors.New("watch started over")

// modelBucketRetry is how often the watch looks for a model bucket that
// HQ does not have.
var modelBucketRetry = 30 * time.Second

// modelRewatch is how often the watch starts over. A watch follows the
// bucket's sequence, so one that HQ deleted and made again (from sequence
// 1) would be followed from where the old one ended; a new watch reads the
// value there is. Values are handled once, so starting over costs a read.
var modelRewatch = 5 * time.Minute

// watchModel follows HQ's model key and applies each new value, until ctx
// is done.
func (u *Uplink) watchModel(ctx context.Context) {
	quiet := false // the missing bucket was logged
	for ctx.Err() == nil {
		err := u.watchModelOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := 2 * time.Second
		switch {
		case errors.Is(err, errRewatch):
			wait = 0
		case errors.Is(err, errNoModelBucket):
			if !quiet {
				u.log.Debug("hq publishes no suggestion model yet", "bucket", decide.Bucket)
				quiet = true
			}
			wait = modelBucketRetry
		default:
			u.log.Debug("model watch stopped; restarting", "err", err)
		}
		sleep(ctx, wait)
	}
}

func (u *Uplink) watchModelOnce(ctx context.Context) error {
	if !u.nc.IsConnected() {
		return nats.ErrConnectionClosed
	}
	kv, err := u.js.KeyValue(ctx, decide.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return errNoModelBucket
	}
	if err != nil {
		return err
	}
	w, err := kv.Watch(ctx, decide.ModelKey)
	if err != nil {
		return err
	}
	defer w.Stop()
	again := time.NewTimer(modelRewatch)
	defer again.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-again.C:
			return errRewatch
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue // the end of the current values, or a delete: keep the model
			}
			// A value handled before the watch restarted is not handled
			// again (nor its refusal counted twice). By content, not KV
			// revision: HQ makes a deleted bucket again, from revision 1.
			if sum := sha256.Sum256(e.Value()); sum != u.modelSeen {
				u.modelSeen = sum
				u.applyModel(e.Value())
			}
		}
	}
}

// applyModel applies one value of the model key, or refuses it.
func (u *Uplink) applyModel(value []byte) {
	payload, seq := value, uint64(0)
	if u.verifier != nil {
		env, err := u.verifier.Open(decide.ModelKey, value)
		if err != nil {
			u.refuseModel(catalogsig.Reason(err), 0, err)
			return
		}
		payload, seq = env.Payload, env.Seq
	} else if env, err := catalogsig.Decode(value); err == nil {
		payload, seq = env.Payload, env.Seq
	}
	m, err := decide.ParseModel(payload)
	if err != nil {
		u.refuseModel("invalid", 0, err)
		return
	}
	_, rev, floorSeq, err := u.opts.DB.Model()
	if err != nil {
		u.log.Error("suggestion model from hq not checked: the store cannot say which was the last", "err", err)
		return
	}
	switch {
	case m.Revision < rev || seq < floorSeq:
		u.refuseModel("rollback", m.Revision, fmt.Errorf("revision %d (sequence %d) is older than the model applied, %d (%d)",
			m.Revision, seq, rev, floorSeq))
		return
	case m.Revision == rev:
		return // the model applied
	}
	if err := u.opts.DB.SaveModel(m.Revision, seq, payload); err != nil {
		u.log.Error("suggestion model from hq not kept; not applied", "revision", m.Revision, "err", err)
		return
	}
	if u.opts.ApplyModel != nil {
		u.opts.ApplyModel(m)
	}
	u.modelRejected.Store(nil)
	u.log.Info("suggestion model from hq applied", "revision", m.Revision, "rules", len(m.Rules), "arms", len(m.Arms))
}

// refuseModel counts and logs a model value refused; the model in use
// stays.
func (u *Uplink) refuseModel(reason string, revision int64, err error) {
	u.modelRefused.WithLabelValues(reason).Inc()
	msg := fmt.Sprintf("suggestion model from hq refused (%s): %v", reason, err)
	u.modelRejected.Store(&msg)
	u.log.Error("suggestion model from hq refused; keeping the model in use", "reason", reason, "revision", revision, "err", err)
}

// ModelRejected returns why the last suggestion model from HQ was refused,
// or "" when the last one was applied (or none came).
func (u *Uplink) ModelRejected() string {
	if p := u.modelRejected.Load(); p != nil {
		return *p
	}
	return ""
}
