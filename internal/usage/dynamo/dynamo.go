// Package dynamo is a usage.Store in one Amazon DynamoDB table, shared by
// every gateway process: caps hold across processes because each Reserve is
// one conditional transaction. The table's items, keys and condition
// expressions are described in docs/store.md.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

var _ usage.Store = (*Store)(nil)

// Key and attribute names, and key prefixes (docs/store.md).
const (
	attrPK        = "pk"
	attrSK        = "sk"
	attrCommitted = "committed" // counter: spent + reserved, micro-USD
	attrSpent     = "spent"     // counter: settled, micro-USD
	attrEstimated = "estimated" // counter: the part of spent charged by sweeps, micro-USD
	attrPeriod    = "period"    // reservation, marker: the first charge's period
	attrPeriods   = "periods"   // reservation, swept marker: each charged counter's period, as scopes
	attrAmount    = "amount"    // reservation: micro-USD held
	attrExpires   = "expires"   // reservation: end of the lease, unix s (rounded up)
	attrScopes    = "scopes"    // reservation, swept marker: sort keys of the charged counters
	attrActual    = "actual"    // marker: micro-USD settled
	attrSwept     = "swept"     // swept marker: micro-USD charged by the sweep
	attrSettled   = "settled"   // marker: when, unix s
	attrTTL       = "ttl"       // reservation, marker: DynamoDB TTL, unix s

	prefixTotals = "TOT#" // counter pk: TOT#<period>, sk <kind>#<id>
	prefixRes    = "RES#" // reservation pk: RES#<shard>, sk <id>
	prefixSet    = "SET#" // marker pk: SET#<id>, sk SET
	skSet        = "SET"

	// resShards spreads reservations over this many partitions; Sweep
	// queries each.
	resShards = 16
)

// Store is a usage.Store in a DynamoDB table. Several Stores (processes)
// may share a table. In the normal path Reserve and Settle are one
// TransactWriteItems each; nothing is read and then written back.
type Store struct {
	client    *dynamodb.Client
	table     string
	now       func() time.Time
	retention time.Duration
	attempts  int
	// slots bound the transactions this process has in flight on one
	// counter item (by stripe): see acquire.
	slots [stripeCount]chan struct{}
	rate  rateItems // the rate-limit windows as last seen (rate.go)
}

// Transactions on one item are applied one at a time by DynamoDB; sent all
// at once they only conflict (TransactionConflict, or lock timeouts on
// DynamoDB Local) and fail after their retries, so this process sends at
// most itemSlots at once per counter item (in stripes of items by hash).
// itemSlots in flight at ~10 ms each is ~800 transactions a second, above
// what one item takes (500: 1,000 WCU/s, 2 per transactional write).
const (
	itemSlots   = 8
	stripeCount = 256
)

// Option configures a Store.
type Option func(*Store)

// WithClock makes the Store read the time from now (for the TTL of
// settlement markers). The default is time.Now.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// WithRetention sets how long settlement markers and expired reservations
// are kept before DynamoDB's TTL may delete them (default
// usage.SettleRetention). A Settle retried later than that may charge
// again.
func WithRetention(d time.Duration) Option { return func(s *Store) { s.retention = d } }

// WithConflictAttempts sets how many times a transaction cancelled only by
// conflicting transactions or throttling is tried (default 8) before the
// call fails with usage.ErrUnavailable.
func WithConflictAttempts(n int) Option { return func(s *Store) { s.attempts = max(1, n) } }

// ClientAttempts is how many times NewClient's client tries a call.
const ClientAttempts = 6

// NewClient returns the DynamoDB client a Store wants, from cfg: the SDK's
// standard retries, ClientAttempts tries with at most a second between
// them, and no client-side retry quota. Every request of a busy key
// writes the same counter item, so a burst of throttled or lock-contended
// transactions is expected; the quota (5 tokens a retry, 500 in all) would
// drain in a moment and fail every request after it with a 503. Retries
// of a transaction keep its ClientRequestToken, so one that did commit
// before its answer was lost is not applied twice.
//
// It also keeps more idle connections than the SDK's default ten, which
// under a gateway's concurrency would close and reopen connections.
func NewClient(cfg aws.Config) *dynamodb.Client {
	cfg.Retryer = func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = ClientAttempts
			o.MaxBackoff = time.Second
			o.RateLimiter = ratelimit.None
		})
	}
	cfg.RetryMaxAttempts = 0 // the Retryer above decides
	if hc, ok := cfg.HTTPClient.(*awshttp.BuildableClient); ok || cfg.HTTPClient == nil {
		if hc == nil {
			hc = awshttp.NewBuildableClient()
		}
		cfg.HTTPClient = hc.WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = 256
			t.MaxIdleConnsPerHost = 256
		})
	}
	return dynamodb.NewFromConfig(cfg)
}

// Open returns a Store on table through client. It does not contact
// DynamoDB; CreateTable creates the table.
func Open(client *dynamodb.Client, table string, opts ...Option) *Store {
	s := &Store{client: client, table: table, now: time.Now, retention: usage.SettleRetention, attempts: 8}
	for _, o := range opts {
		o(s)
	}
	for i := range s.slots {
		s.slots[i] = make(chan struct{}, itemSlots)
	}
	return s
}

// CreateTable creates the table (on-demand billing, keys pk and sk, both
// strings), waits until it is active and enables TTL on attribute "ttl".
// It is idempotent: on an existing table it only makes sure TTL is on.
func (s *Store) CreateTable(ctx context.Context) error {
	_, err := s.client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:   aws.String(s.table),
		BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrPK), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrSK), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrPK), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrSK), KeyType: types.KeyTypeRange},
		},
	})
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return unavailable("create table", err)
	}
	w := dynamodb.NewTableExistsWaiter(s.client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 5 * time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)}, 5*time.Minute); err != nil {
		return unavailable("wait for table", err)
	}
	ttl, err := s.client.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(s.table)})
	if err != nil {
		return unavailable("describe ttl", err)
	}
	if d := ttl.TimeToLiveDescription; d != nil &&
		(d.TimeToLiveStatus == types.TimeToLiveStatusEnabled || d.TimeToLiveStatus == types.TimeToLiveStatusEnabling) {
		return nil
	}
	_, err = s.client.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
		TableName:               aws.String(s.table),
		TimeToLiveSpecification: &types.TimeToLiveSpecification{AttributeName: aws.String(attrTTL), Enabled: aws.Bool(true)},
	})
	if err != nil {
		return unavailable("enable ttl", err)
	}
	return nil
}

// ErrNoTable is returned by Check when the table does not exist.
var ErrNoTable = errors.New("usage/dynamo: no such table")

// Check makes sure the table exists, with one DescribeTable, so that a
// gateway can refuse to start on a missing table rather than answer every
// budgeted request with a 503. A missing table is ErrNoTable; any other
// failure (network, permissions) wraps usage.ErrUnavailable.
func (s *Store) Check(ctx context.Context) error {
	_, err := s.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)})
	var nf *types.ResourceNotFoundException
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nf):
		return fmt.Errorf("%w: %s", ErrNoTable, s.table)
	default:
		return unavailable("describe table", err)
	}
}

// Close implements [usage.Store.Close]. It does nothing: the client is the
// caller's.
func (s *Store) Close() error { return nil }

// Reserve implements [usage.Store.Reserve] with one TransactWriteItems: an
// ADD to each charged counter, conditional for capped scopes on committed <=
// limit - amount, the Put of the reservation item and a check that the ID
// was not settled. A refusal costs a read only when the amount alone
// exceeds a cap.
func (s *Store) Reserve(ctx context.Context, r *usage.Reservation) error {
	if err := r.Validate(); err != nil {
		return err
	}
	for _, c := range r.Charges {
		if c.Capped() && c.Limit < r.Amount {
			// The condition would need a negative bound: refuse without
			// writing, and read the totals for the error.
			return s.exceeded(ctx, r, nil)
		}
	}
	items := make([]types.TransactWriteItem, 0, len(r.Charges)+2)
	for _, c := range r.Charges {
		u := &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       totKey(c.Period, c.Scope),
			UpdateExpression:          aws.String("ADD #c :a"),
			ExpressionAttributeNames:  map[string]string{"#c": attrCommitted},
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": num(r.Amount)},
		}
		if c.Capped() {
			u.ConditionExpression = aws.String("attribute_not_exists(#c) OR #c <= :m")
			u.ExpressionAttributeValues[":m"] = num(c.Limit - r.Amount)
			u.ReturnValuesOnConditionCheckFailure = types.ReturnValuesOnConditionCheckFailureAllOld
		}
		items = append(items, types.TransactWriteItem{Update: u})
	}
	scopes := make([]types.AttributeValue, len(r.Charges))
	periods := make([]types.AttributeValue, len(r.Charges))
	for i, c := range r.Charges {
		scopes[i] = &types.AttributeValueMemberS{Value: scopeSK(c.Scope)}
		periods[i] = &types.AttributeValueMemberS{Value: c.Period}
	}
	expires := expiresUnix(r.Expires)
	item := resKey(r.ID)
	item[attrPeriod] = &types.AttributeValueMemberS{Value: mainPeriod(r)}
	item[attrAmount] = num(r.Amount)
	item[attrExpires] = num(expires)
	item[attrScopes] = &types.AttributeValueMemberL{Value: scopes}
	item[attrPeriods] = &types.AttributeValueMemberL{Value: periods}
	item[attrTTL] = num(expires + int64(s.retention/time.Second))
	items = append(items,
		types.TransactWriteItem{Put: &types.Put{
			TableName:                aws.String(s.table),
			Item:                     item,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		}},
		types.TransactWriteItem{ConditionCheck: &types.ConditionCheck{
			TableName:                aws.String(s.table),
			Key:                      setKey(r.ID),
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		}},
	)
	failed, err := s.transact(ctx, "reserve", items)
	if err != nil || failed == nil {
		return err
	}
	n := len(r.Charges)
	if failed[n].failed || failed[n+1].failed {
		return fmt.Errorf("%w: %s", usage.ErrDuplicate, r.ID)
	}
	return s.exceeded(ctx, r, failed[:n])
}

// exceeded returns the *ExceededError of a refused reservation: from the
// counters' old images that the failed conditions returned, or, where they
// did not (or reasons is nil), from a read of the totals.
func (s *Store) exceeded(ctx context.Context, r *usage.Reservation, reasons []reason) error {
	var charges []usage.Charge
	var totals []usage.Totals
	complete := reasons != nil
	for i, rs := range reasons {
		if !rs.failed {
			continue
		}
		if rs.item == nil {
			complete = false
			break
		}
		charges = append(charges, r.Charges[i])
		totals = append(totals, counterTotals(rs.item))
	}
	if !complete {
		keys := make([]map[string]types.AttributeValue, len(r.Charges))
		for i, c := range r.Charges {
			keys[i] = totKey(c.Period, c.Scope)
		}
		m, err := s.counters(ctx, "totals", keys)
		if err != nil {
			return err
		}
		charges, totals = r.Charges, make([]usage.Totals, len(r.Charges))
		for i, c := range r.Charges {
			totals[i] = m[counterID(c.Period, c.Scope)]
		}
	}
	if e := usage.Exceeded(charges, totals, r.Amount); e != nil {
		return e
	}
	// The totals read after the refusal have room again (a concurrent
	// settle or sweep): still refused, name the first capped scope.
	for i, c := range charges {
		if c.Capped() {
			return &usage.ExceededError{Scope: c.Scope, Period: c.Period, Limit: c.Limit, Spent: totals[i].Spent, Reserved: totals[i].Reserved}
		}
	}
	return fmt.Errorf("usage/dynamo: reserve %s: %w: refused without a failed cap", r.ID, usage.ErrUnavailable)
}

// Settle implements [usage.Store.Settle] with one TransactWriteItems: the
// Delete of the reservation item (conditional on its existence and amount),
// the Put of a settlement marker (conditional on its absence) and an ADD to
// each counter. If the reservation was swept, a second transaction corrects
// the sweep's charge (the swept marker says what it was) or, for a
// reservation never made, puts the marker and charges actual. A Reservation
// with a zero Expires is taken as never reserved (a spend with no capped
// scope): only the second transaction runs.
func (s *Store) Settle(ctx context.Context, r *usage.Reservation, actual int64) (bool, error) {
	if err := usage.CheckSettle(r, actual); err != nil {
		return false, err
	}
	marker := s.marker(r, actual)
	if r.Expires.IsZero() {
		return s.settleUnreserved(ctx, r, marker, actual)
	}
	items := make([]types.TransactWriteItem, 0, len(r.Charges)+2)
	items = append(items,
		types.TransactWriteItem{Delete: &types.Delete{
			TableName:                           aws.String(s.table),
			Key:                                 resKey(r.ID),
			ConditionExpression:                 aws.String("attribute_exists(#pk) AND #a = :a AND #p = :p"),
			ExpressionAttributeNames:            map[string]string{"#pk": attrPK, "#a": attrAmount, "#p": attrPeriod},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":a": num(r.Amount), ":p": &types.AttributeValueMemberS{Value: mainPeriod(r)}},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
		}},
		marker,
	)
	items = s.appendCounters(items, r, actual-r.Amount, actual)
	failed, err := s.transact(ctx, "settle", items)
	if err != nil {
		return false, err
	}
	if failed == nil {
		return true, nil
	}
	if failed[1].failed {
		if m := failed[1].item; m != nil && m[attrSwept] != nil && m[attrActual] == nil {
			return s.settleSwept(ctx, r, m, actual)
		}
		return false, nil // the marker exists: settled already
	}
	if failed[0].item != nil {
		return false, fmt.Errorf("%w: settle %s: amount %d or period %s differs from the reservation's (%s)",
			usage.ErrInvalid, r.ID, r.Amount, mainPeriod(r), describe(failed[0].item))
	}
	// The reservation item is gone and no marker was seen: swept (or never
	// reserved).
	return s.settleUnreserved(ctx, r, marker, actual)
}

// settleSwept replaces the charge of a swept reservation, recorded in
// marker m, with actual, once: the condition on m decides.
func (s *Store) settleSwept(ctx context.Context, r *usage.Reservation, m map[string]types.AttributeValue, actual int64) (bool, error) {
	charged, err := strconv.ParseInt(numStr(m[attrSwept]), 10, 64)
	keys, ok := chargedCounters(m)
	if err != nil || !ok {
		return false, fmt.Errorf("usage/dynamo: settle %s: malformed swept marker %s", r.ID, describe(m))
	}
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName:                aws.String(s.table),
		Key:                      setKey(r.ID),
		UpdateExpression:         aws.String("SET #a = :a, #t = :t"),
		ConditionExpression:      aws.String("attribute_exists(#s) AND attribute_not_exists(#a)"),
		ExpressionAttributeNames: map[string]string{"#a": attrActual, "#t": attrSettled, "#s": attrSwept},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":a": num(actual), ":t": num(s.now().Unix()),
		},
	}}}
	for _, k := range keys {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                aws.String(s.table),
			Key:                      k,
			UpdateExpression:         aws.String("ADD #c :d, #s :d, #e :e"),
			ExpressionAttributeNames: map[string]string{"#c": attrCommitted, "#s": attrSpent, "#e": attrEstimated},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":d": num(actual - charged), ":e": num(-charged),
			},
		}})
	}
	failed, err := s.transact(ctx, "settle swept", items)
	if err != nil {
		return false, err
	}
	return failed == nil, nil
}

// settleUnreserved charges actual to r's scopes, once: the marker's
// condition decides.
func (s *Store) settleUnreserved(ctx context.Context, r *usage.Reservation, marker types.TransactWriteItem, actual int64) (bool, error) {
	items := s.appendCounters([]types.TransactWriteItem{marker}, r, actual, actual)
	failed, err := s.transact(ctx, "settle unreserved", items)
	if err != nil {
		return false, err
	}
	return failed == nil, nil
}

// marker returns the Put of r's settlement marker.
func (s *Store) marker(r *usage.Reservation, actual int64) types.TransactWriteItem {
	now := s.now().Unix()
	item := setKey(r.ID)
	item[attrPeriod] = &types.AttributeValueMemberS{Value: mainPeriod(r)}
	item[attrActual] = num(actual)
	item[attrSettled] = num(now)
	item[attrTTL] = num(max(now, expiresUnix(r.Expires)) + int64(s.retention/time.Second))
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                           aws.String(s.table),
		Item:                                item,
		ConditionExpression:                 aws.String("attribute_not_exists(#pk)"),
		ExpressionAttributeNames:            map[string]string{"#pk": attrPK},
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}}
}

// appendCounters appends to items an unconditional ADD of committed and
// spent to each of r's counters.
func (s *Store) appendCounters(items []types.TransactWriteItem, r *usage.Reservation, committed, spent int64) []types.TransactWriteItem {
	for _, c := range r.Charges {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       totKey(c.Period, c.Scope),
			UpdateExpression:          aws.String("ADD #c :c, #s :s"),
			ExpressionAttributeNames:  map[string]string{"#c": attrCommitted, "#s": attrSpent},
			ExpressionAttributeValues: map[string]types.AttributeValue{":c": num(committed), ":s": num(spent)},
		}})
	}
	return items
}

// Totals implements [usage.Store.Totals] with strongly consistent
// BatchGetItem reads.
func (s *Store) Totals(ctx context.Context, period string, scopes []usage.Scope) (map[usage.Scope]usage.Totals, error) {
	out := make(map[usage.Scope]usage.Totals, len(scopes))
	var keys []map[string]types.AttributeValue
	for _, sc := range scopes {
		if _, ok := out[sc]; ok {
			continue
		}
		out[sc] = usage.Totals{}
		keys = append(keys, totKey(period, sc))
	}
	got, err := s.counters(ctx, "totals", keys)
	if err != nil {
		return nil, err
	}
	for _, sc := range scopes {
		out[sc] = got[counterID(period, sc)]
	}
	return out, nil
}

// counterID names a counter item in counters' answer.
func counterID(period string, sc usage.Scope) string {
	return prefixTotals + period + "\x00" + scopeSK(sc)
}

// counters reads the counter items of keys (distinct) with strongly
// consistent BatchGetItem reads, by counterID; a missing item is absent.
func (s *Store) counters(ctx context.Context, op string, keys []map[string]types.AttributeValue) (map[string]usage.Totals, error) {
	out := make(map[string]usage.Totals, len(keys))
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), 100)]
		keys = keys[len(chunk):]
		req := map[string]types.KeysAndAttributes{s.table: {Keys: chunk, ConsistentRead: aws.Bool(true)}}
		for attempt := 0; len(req) > 0; attempt++ {
			if attempt > 0 {
				if err := s.backoff(ctx, op, attempt, errors.New("unprocessed keys")); err != nil {
					return nil, err
				}
			}
			resp, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
			if err != nil {
				return nil, unavailable(op, err)
			}
			for _, item := range resp.Responses[s.table] {
				out[str(item[attrPK])+"\x00"+str(item[attrSK])] = counterTotals(item)
			}
			req = resp.UnprocessedKeys
		}
	}
	return out, nil
}

// List implements [usage.Store.List] with a strongly consistent Query of
// the period's counters.
func (s *Store) List(ctx context.Context, period string) (map[usage.Scope]usage.Totals, error) {
	out := make(map[usage.Scope]usage.Totals)
	p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#pk = :pk"),
		ExpressionAttributeNames:  map[string]string{"#pk": attrPK},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": &types.AttributeValueMemberS{Value: prefixTotals + period}},
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, unavailable("list", err)
		}
		for _, item := range page.Items {
			if sc, ok := parseScope(str(item[attrSK])); ok {
				out[sc] = counterTotals(item)
			}
		}
	}
	return out, nil
}

// Sweep implements [usage.Store.Sweep]: it queries every reservation shard
// for leases that expired before now (at one-second resolution: expires <
// now) and charges each with a transaction of its own, conditional on the
// item still being there with the same expiry, so that concurrent sweeps
// and settles end a lease once. The transaction replaces the reservation
// with a swept marker (what was charged, on which counters) that a late
// Settle corrects.
func (s *Store) Sweep(ctx context.Context, now time.Time) (int, error) {
	nowSec := float64(now.UnixMilli()) / 1000
	released := 0
	for shard := range resShards {
		p := dynamodb.NewQueryPaginator(s.client, &dynamodb.QueryInput{
			TableName:                aws.String(s.table),
			KeyConditionExpression:   aws.String("#pk = :pk"),
			FilterExpression:         aws.String("#e < :now"),
			ConsistentRead:           aws.Bool(true), // see the leases reserved just now
			ExpressionAttributeNames: map[string]string{"#pk": attrPK, "#e": attrExpires},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":pk":  &types.AttributeValueMemberS{Value: resPK(shard)},
				":now": &types.AttributeValueMemberN{Value: strconv.FormatFloat(nowSec, 'f', 3, 64)},
			},
		})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return released, unavailable("sweep", err)
			}
			for _, item := range page.Items {
				ok, err := s.release(ctx, item)
				if err != nil {
					return released, err
				}
				if ok {
					released++
				}
			}
		}
	}
	return released, nil
}

// release charges one expired reservation item at its amount, unless it was
// settled or charged meanwhile.
func (s *Store) release(ctx context.Context, item map[string]types.AttributeValue) (bool, error) {
	amount, err1 := strconv.ParseInt(numStr(item[attrAmount]), 10, 64)
	_, err2 := strconv.ParseInt(numStr(item[attrExpires]), 10, 64)
	keys, ok := chargedCounters(item)
	if err1 != nil || err2 != nil || !ok {
		return false, fmt.Errorf("usage/dynamo: sweep: malformed reservation %s", describe(item))
	}
	now := s.now().Unix()
	marker := setKey(str(item[attrSK]))
	marker[attrPeriod] = item[attrPeriod]
	marker[attrSwept] = num(amount)
	marker[attrScopes] = item[attrScopes]
	if p, ok := item[attrPeriods]; ok {
		marker[attrPeriods] = p
	}
	marker[attrSettled] = num(now)
	marker[attrTTL] = num(now + int64(s.retention/time.Second))
	items := []types.TransactWriteItem{
		{Delete: &types.Delete{
			TableName:                 aws.String(s.table),
			Key:                       map[string]types.AttributeValue{attrPK: item[attrPK], attrSK: item[attrSK]},
			ConditionExpression:       aws.String("attribute_exists(#pk) AND #e = :e"),
			ExpressionAttributeNames:  map[string]string{"#pk": attrPK, "#e": attrExpires},
			ExpressionAttributeValues: map[string]types.AttributeValue{":e": item[attrExpires]},
		}},
		{Put: &types.Put{
			TableName:                aws.String(s.table),
			Item:                     marker,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		}},
	}
	// Committed stays: the hold becomes spend.
	for _, k := range keys {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       k,
			UpdateExpression:          aws.String("ADD #s :a, #e :a"),
			ExpressionAttributeNames:  map[string]string{"#s": attrSpent, "#e": attrEstimated},
			ExpressionAttributeValues: map[string]types.AttributeValue{":a": num(amount)},
		}})
	}
	failed, err := s.transact(ctx, "sweep", items)
	return err == nil && failed == nil, err
}

// reason is one transaction item's outcome in a cancelled transaction.
type reason struct {
	failed bool                            // its condition failed
	item   map[string]types.AttributeValue // its old image, if asked for and it existed
}

// transact runs items as one transaction. It returns (nil, nil) when the
// transaction committed, the per-item reasons when conditions failed, and an
// error wrapping usage.ErrUnavailable otherwise. Transactions cancelled only
// by conflicts with concurrent transactions or by throttling are tried
// again with jittered exponential backoff: nothing of them was applied.
func (s *Store) transact(ctx context.Context, op string, items []types.TransactWriteItem) ([]reason, error) {
	stripes := counterStripes(items)
	for attempt := 0; ; attempt++ {
		release, err := s.acquire(ctx, stripes)
		if err != nil {
			return nil, unavailable(op, err)
		}
		_, err = s.client.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
		release()
		if err == nil {
			return nil, nil
		}
		var tce *types.TransactionCanceledException
		if !errors.As(err, &tce) {
			return nil, unavailable(op, err)
		}
		reasons := make([]reason, len(items))
		anyFailed := false
		for i, cr := range tce.CancellationReasons {
			if i < len(reasons) && aws.ToString(cr.Code) == "ConditionalCheckFailed" {
				reasons[i] = reason{failed: true, item: cr.Item}
				anyFailed = true
			}
		}
		if anyFailed {
			return reasons, nil
		}
		if attempt+1 >= s.attempts {
			return nil, unavailable(op, err)
		}
		if err := s.backoff(ctx, op, attempt+1, err); err != nil {
			return nil, err
		}
	}
}

// counterStripes returns the stripes of the counter items that items
// update, sorted and without repeats (so that acquiring them in order cannot
// deadlock).
func counterStripes(items []types.TransactWriteItem) []int {
	var out []int
	for _, it := range items {
		if it.Update == nil {
			continue
		}
		pk, sk := str(it.Update.Key[attrPK]), str(it.Update.Key[attrSK])
		if !strings.HasPrefix(pk, prefixTotals) {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(pk))
		h.Write([]byte{0})
		h.Write([]byte(sk))
		out = append(out, int(h.Sum32()%stripeCount))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// acquire takes a slot of each stripe, in order, and returns how to give
// them back.
func (s *Store) acquire(ctx context.Context, stripes []int) (release func(), err error) {
	taken := 0
	release = func() {
		for _, i := range stripes[:taken] {
			<-s.slots[i]
		}
	}
	for _, i := range stripes {
		select {
		case s.slots[i] <- struct{}{}:
			taken++
		case <-ctx.Done():
			release()
			return nil, ctx.Err()
		}
	}
	return release, nil
}

// backoff sleeps before attempt (1, 2, ...): a random time up to 10 ms ×
// 2^attempt, at most 1 s.
func (s *Store) backoff(ctx context.Context, op string, attempt int, cause error) error {
	if attempt >= s.attempts {
		return unavailable(op, cause)
	}
	d := min(10*time.Millisecond<<min(attempt, 7), time.Second)
	t := time.NewTimer(time.Duration(rand.Int64N(int64(d))) + time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return unavailable(op, ctx.Err())
	case <-t.C:
		return nil
	}
}

// unavailable wraps an error of a DynamoDB call: whatever went wrong
// (network, throttling, a missing table, a cancelled context), the store
// could not be used.
func unavailable(op string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("usage/dynamo: %s: %w: %s: %w", op, usage.ErrUnavailable, ae.ErrorCode(), err)
	}
	return fmt.Errorf("usage/dynamo: %s: %w: %w", op, usage.ErrUnavailable, err)
}

// mainPeriod is what a reservation item and a marker keep in period (and
// Settle checks): the first charge's period. The gateway charges the key's
// month first, so it is the month, as in the items written before charges
// had periods of their own.
func mainPeriod(r *usage.Reservation) string { return r.Charges[0].Period }

// chargedCounters returns the keys of the counters a reservation item or a
// swept marker charged: each sk of scopes in the period at the same place
// of periods, or, in items written before periods existed, in period.
func chargedCounters(item map[string]types.AttributeValue) ([]map[string]types.AttributeValue, bool) {
	scopes, ok := item[attrScopes].(*types.AttributeValueMemberL)
	if !ok {
		return nil, false
	}
	periods, _ := item[attrPeriods].(*types.AttributeValueMemberL)
	if periods != nil && len(periods.Value) != len(scopes.Value) {
		return nil, false
	}
	keys := make([]map[string]types.AttributeValue, len(scopes.Value))
	for i, v := range scopes.Value {
		period := str(item[attrPeriod])
		if periods != nil {
			period = str(periods.Value[i])
		}
		if period == "" {
			return nil, false
		}
		keys[i] = map[string]types.AttributeValue{
			attrPK: &types.AttributeValueMemberS{Value: prefixTotals + period},
			attrSK: v,
		}
	}
	return keys, true
}

func totKey(period string, sc usage.Scope) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: prefixTotals + period},
		attrSK: &types.AttributeValueMemberS{Value: scopeSK(sc)},
	}
}

// resPK is the partition key of reservation shard n.
func resPK(n int) string { return prefixRes + strconv.FormatInt(int64(n), 16) }

func resKey(id string) map[string]types.AttributeValue {
	h := fnv.New32a()
	h.Write([]byte(id))
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: resPK(int(h.Sum32() % resShards))},
		attrSK: &types.AttributeValueMemberS{Value: id},
	}
}

func setKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		attrPK: &types.AttributeValueMemberS{Value: prefixSet + id},
		attrSK: &types.AttributeValueMemberS{Value: skSet},
	}
}

// scopeSK is a counter's sort key: "<kind>#<id>" ("global#").
func scopeSK(sc usage.Scope) string { return string(sc.Kind) + "#" + sc.ID }

func parseScope(sk string) (usage.Scope, bool) {
	kind, id, ok := strings.Cut(sk, "#")
	return usage.Scope{Kind: usage.Kind(kind), ID: id}, ok
}

// expiresUnix is t in unix seconds, rounded up: a lease never ends early.
func expiresUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

func num(n int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func str(v types.AttributeValue) string {
	if s, ok := v.(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

func numStr(v types.AttributeValue) string {
	if n, ok := v.(*types.AttributeValueMemberN); ok {
		return n.Value
	}
	return ""
}

// counterTotals reads a counter item; missing attributes are zero.
func counterTotals(item map[string]types.AttributeValue) usage.Totals {
	committed := intAttr(item[attrCommitted])
	spent := intAttr(item[attrSpent])
	return usage.Totals{Spent: spent, Reserved: committed - spent, Estimated: intAttr(item[attrEstimated])}
}

func intAttr(v types.AttributeValue) int64 {
	s := numStr(v)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		// Larger than int64 or fractional: only hand-edited items.
		f, _ := strconv.ParseFloat(s, 64)
		return int64(math.Max(math.Min(f, math.MaxInt64), math.MinInt64))
	}
	return n
}

// describe renders an item's key and numbers for error messages.
func describe(item map[string]types.AttributeValue) string {
	var b strings.Builder
	for _, k := range []string{attrPK, attrSK, attrPeriod, attrAmount, attrExpires} {
		switch v := item[k].(type) {
		case *types.AttributeValueMemberS:
			fmt.Fprintf(&b, "%s=%s ", k, v.Value)
		case *types.AttributeValueMemberN:
			fmt.Fprintf(&b, "%s=%s ", k, v.Value)
		}
	}
	return strings.TrimSpace(b.String())
}
