package dynamo

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

var _ usage.Limiter = (*Store)(nil)

// A scope's rate-limit window is one item, pk RATE#<kind>#<id>, sk RATE:
// the window encoded (usage.Window.Encode) in attrWindow and a version in
// attrVersion that every write increments, conditional on the version read.
// Within a process the writes of one scope are serialized, so that only
// other processes' writes can conflict; a conflicting write answers with
// the item as it now is, and the admission is decided again on it.
const (
	prefixRate  = "RATE#"
	skRate      = "RATE"
	attrWindow  = "w"
	attrVersion = "v"

	// maxWindowBytes keeps a window item under DynamoDB's 400 KB: about
	// 18,000 admissions in a minute on one scope.
	maxWindowBytes = 380_000
	// rateAttempts bounds the tries of one admission or release lost to
	// other processes' writes on its items.
	rateAttempts = 64
)

// rateItems caches this process's last view of each window item, and
// serializes its writes to each.
type rateItems struct {
	mu    sync.Mutex
	items map[usage.Scope]*rateItem
}

type rateItem struct {
	mu      sync.Mutex
	known   bool   // w and v are the item as last seen (else read it)
	exists  bool   // the item existed then
	w       []byte // its window
	version int64
}

func (r *rateItems) get(sc usage.Scope) *rateItem {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.items == nil {
		r.items = map[usage.Scope]*rateItem{}
	}
	it := r.items[sc]
	if it == nil {
		it = &rateItem{}
		r.items[sc] = it
	}
	return it
}

// lock takes the items of scopes in a fixed order and returns them in the
// order of scopes, with how to unlock them.
func (s *Store) lockRate(scopes []usage.Scope) ([]*rateItem, func()) {
	order := slices.Clone(scopes)
	slices.SortFunc(order, func(a, b usage.Scope) int {
		if c := cmpStr(string(a.Kind), string(b.Kind)); c != 0 {
			return c
		}
		return cmpStr(a.ID, b.ID)
	})
	for _, sc := range order {
		s.rate.get(sc).mu.Lock()
	}
	items := make([]*rateItem, len(scopes))
	for i, sc := range scopes {
		items[i] = s.rate.get(sc)
	}
	return items, func() {
		for _, sc := range order {
			s.rate.get(sc).mu.Unlock()
		}
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func rateKey(sc usage.Scope) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: prefixRate + scopeSK(sc)},
		attrSK: &types.AttributeValueMemberS{Value: skRate},
	}
}

// load reads the item of sc into it (consistently).
func (s *Store) load(ctx context.Context, sc usage.Scope, it *rateItem) error {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(s.table), Key: rateKey(sc), ConsistentRead: aws.Bool(true)})
	if err != nil {
		return unavailable("read rate window", err)
	}
	it.see(out.Item)
	return nil
}

// see records item (nil: none) as it is now.
func (it *rateItem) see(item map[string]types.AttributeValue) {
	it.known, it.exists, it.w, it.version = true, item != nil, nil, 0
	if item == nil {
		return
	}
	if b, ok := item[attrWindow].(*types.AttributeValueMemberB); ok {
		it.w = b.Value
	}
	it.version = intAttr(item[attrVersion])
}

// Acquire implements [usage.Limiter.Acquire]: a conditional PutItem of the
// window item (a TransactWriteItems of them when the admission has more
// than one scope). A refusal is decided on a consistent read, never on
// this process's cached view.
func (s *Store) Acquire(ctx context.Context, a *usage.Admission) ([]usage.RateState, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	scopes := make([]usage.Scope, len(a.Limits))
	for i, l := range a.Limits {
		scopes[i] = l.Scope
	}
	items, unlock := s.lockRate(scopes)
	defer unlock()
	seen := make([]bool, len(items)) // read from the table during this call
	for attempt := 0; ; attempt++ {
		if attempt >= rateAttempts {
			return nil, fmt.Errorf("usage/dynamo: rate admission: %w: %d conflicting writes", usage.ErrUnavailable, attempt)
		}
		for i, it := range items {
			if !it.known {
				if err := s.load(ctx, scopes[i], it); err != nil {
					return nil, err
				}
				seen[i] = true
			}
		}
		windows := make([]*usage.Window, len(items))
		for i, it := range items {
			w, err := usage.DecodeWindow(it.w)
			if err != nil {
				return nil, fmt.Errorf("usage/dynamo: window of %s: %w", scopes[i], err)
			}
			windows[i] = w
		}
		states, err := usage.Admit(a, windows)
		if err != nil {
			if slices.Contains(seen, false) {
				for i, it := range items {
					it.known = it.known && seen[i] // refuse only on what the table holds now
				}
				continue
			}
			return nil, err
		}
		keep := a.Now.Add(usage.RateWindow)
		if a.Expires.After(keep) {
			keep = a.Expires
		}
		ok, err := s.writeWindows(ctx, scopes, items, windows, keep)
		if err != nil {
			return nil, err
		}
		if ok {
			return states, nil
		}
		for i := range seen {
			seen[i] = true // the items are as the table holds them, or unknown (read next)
		}
		if err := rateBackoff(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// Release implements [usage.Limiter.Release]: a conditional write of each
// window that holds the admission.
func (s *Store) Release(ctx context.Context, r *usage.RateRelease) error {
	if err := r.Validate(); err != nil {
		return err
	}
	for _, sc := range r.Scopes {
		items, unlock := s.lockRate([]usage.Scope{sc})
		err := s.releaseOne(ctx, sc, items[0], r)
		unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) releaseOne(ctx context.Context, sc usage.Scope, it *rateItem, r *usage.RateRelease) error {
	for attempt := 0; attempt < rateAttempts; attempt++ {
		if !it.known {
			if err := s.load(ctx, sc, it); err != nil {
				return err
			}
		}
		w, err := usage.DecodeWindow(it.w)
		if err != nil {
			return fmt.Errorf("usage/dynamo: window of %s: %w", sc, err)
		}
		if !w.Release(r) {
			if attempt == 0 && it.exists {
				// The cached view may be stale: look again before
				// concluding there is nothing to release.
				it.known = false
				continue
			}
			return nil
		}
		ok, err := s.writeWindows(ctx, []usage.Scope{sc}, []*rateItem{it}, []*usage.Window{w}, r.Now.Add(usage.RateWindow+time.Hour))
		if err != nil || ok {
			return err
		}
		if err := rateBackoff(ctx, attempt); err != nil {
			return err
		}
	}
	return fmt.Errorf("usage/dynamo: rate release: %w: %d conflicting writes", usage.ErrUnavailable, rateAttempts)
}

// writeWindows writes windows to the items of scopes, conditional on the
// versions seen. It reports false when another process wrote first: items
// then hold what the table holds.
func (s *Store) writeWindows(ctx context.Context, scopes []usage.Scope, items []*rateItem, windows []*usage.Window, keep time.Time) (bool, error) {
	puts := make([]*types.Put, len(scopes))
	encoded := make([][]byte, len(scopes))
	for i, sc := range scopes {
		encoded[i] = windows[i].Encode()
		if len(encoded[i]) > maxWindowBytes {
			return false, fmt.Errorf("usage/dynamo: %w: the rate window of %s holds %d admissions, more than one item takes", usage.ErrUnavailable, sc, windows[i].Len())
		}
		item := rateKey(sc)
		item[attrWindow] = &types.AttributeValueMemberB{Value: encoded[i]}
		item[attrVersion] = num(items[i].version + 1)
		item[attrTTL] = num(keep.Add(time.Hour).Unix())
		p := &types.Put{TableName: aws.String(s.table), Item: item,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}
		if items[i].exists {
			p.ConditionExpression = aws.String("#v = :v")
			p.ExpressionAttributeNames = map[string]string{"#v": attrVersion}
			p.ExpressionAttributeValues = map[string]types.AttributeValue{":v": num(items[i].version)}
		} else {
			p.ConditionExpression = aws.String("attribute_not_exists(" + attrPK + ")")
		}
		puts[i] = p
	}
	if len(puts) == 1 {
		p := puts[0]
		_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{TableName: p.TableName, Item: p.Item,
			ConditionExpression: p.ConditionExpression, ExpressionAttributeNames: p.ExpressionAttributeNames,
			ExpressionAttributeValues: p.ExpressionAttributeValues, ReturnValuesOnConditionCheckFailure: p.ReturnValuesOnConditionCheckFailure})
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
		case errors.As(err, &ccf):
			items[0].see(ccf.Item)
			return false, nil
		default:
			items[0].known = false
			return false, unavailable("write rate window", err)
		}
	} else {
		tx := make([]types.TransactWriteItem, len(puts))
		for i, p := range puts {
			tx[i] = types.TransactWriteItem{Put: p}
		}
		_, err := s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
		var tce *types.TransactionCanceledException
		switch {
		case err == nil:
		case errors.As(err, &tce):
			failed := false
			for i, cr := range tce.CancellationReasons {
				if i < len(items) && aws.ToString(cr.Code) == "ConditionalCheckFailed" {
					items[i].see(cr.Item)
					failed = true
				}
			}
			if !failed { // a conflict with another transaction: read again
				for _, it := range items {
					it.known = false
				}
			}
			return false, nil
		default:
			for _, it := range items {
				it.known = false
			}
			return false, unavailable("write rate windows", err)
		}
	}
	for i, it := range items {
		it.known, it.exists, it.w, it.version = true, true, encoded[i], it.version+1
	}
	return true, nil
}

// rateBackoff pauses before another try of a write lost to another
// process: up to a few milliseconds, jittered, so that two processes do not
// collide again in step.
func rateBackoff(ctx context.Context, attempt int) error {
	d := time.Duration(rand.Int64N(int64(time.Millisecond)<<min(attempt, 4))) + 100*time.Microsecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("usage/dynamo: rate: %w: %w", usage.ErrUnavailable, ctx.Err())
	case <-t.C:
		return nil
	}
}
