package dynamo_test

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate-gw/tollgate/internal/testsvc"
	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/dynamo"
	"github.com/tollgate-gw/tollgate/internal/usage/storetest"
)

var tables atomic.Int64

// newTable creates a fresh table on DynamoDB Local and returns its name.
func newTable(t testing.TB, c *dynamodb.Client) string {
	t.Helper()
	name := fmt.Sprintf("usage-%d", tables.Add(1))
	if err := dynamo.Open(c, name).CreateTable(t.Context()); err != nil {
		t.Fatalf("CreateTable: %v", err)
	}
	return name
}

func TestStore(t *testing.T) {
	c := testsvc.DynamoDBClient(t)
	storetest.Run(t, func(t *testing.T, now func() time.Time) usage.Store {
		return dynamo.Open(c, newTable(t, c), dynamo.WithClock(now))
	})
}

// TestShared runs two Stores on one table: two gateway processes.
func TestShared(t *testing.T) {
	c := testsvc.DynamoDBClient(t)
	storetest.RunShared(t, func(t *testing.T, now func() time.Time) []usage.Store {
		table := newTable(t, c)
		return []usage.Store{dynamo.Open(c, table, dynamo.WithClock(now)), dynamo.Open(c, table, dynamo.WithClock(now))}
	})
}

func TestCreateTable(t *testing.T) {
	c := testsvc.DynamoDBClient(t)
	name := newTable(t, c)
	// Idempotent: a second call on the existing table succeeds.
	if err := dynamo.Open(c, name).CreateTable(t.Context()); err != nil {
		t.Fatalf("CreateTable again: %v", err)
	}
	d, err := c.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if m := d.Table.BillingModeSummary; m == nil || m.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode %+v, want PAY_PER_REQUEST", m)
	}
	ttl, err := c.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if got := ttl.TimeToLiveDescription; got == nil || aws.ToString(got.AttributeName) != "ttl" || got.TimeToLiveStatus != types.TimeToLiveStatusEnabled {
		t.Errorf("TTL %+v, want enabled on ttl", got)
	}
}

// TestUnavailable: a missing table or an unreachable endpoint is
// ErrUnavailable, on which the gateway fails closed.
func TestUnavailable(t *testing.T) {
	c := testsvc.DynamoDBClient(t)
	unreachable := dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String("http://127.0.0.1:1"),
		Credentials:      credentials.NewStaticCredentialsProvider("local", "local", ""),
		RetryMaxAttempts: 1,
	})
	r := &usage.Reservation{ID: "r", Amount: 1, Expires: time.Now().Add(time.Minute),
		Charges: []usage.Charge{{Scope: usage.Global, Period: "2026-11", Limit: 100}}}
	for name, s := range map[string]*dynamo.Store{
		"missing table": dynamo.Open(c, "no-such-table"),
		"unreachable":   dynamo.Open(unreachable, "usage"),
	} {
		if err := s.Reserve(t.Context(), r); !errors.Is(err, usage.ErrUnavailable) {
			t.Errorf("%s: Reserve: %v, want ErrUnavailable", name, err)
		}
		if _, err := s.Settle(t.Context(), r, 1); !errors.Is(err, usage.ErrUnavailable) {
			t.Errorf("%s: Settle: %v, want ErrUnavailable", name, err)
		}
		if _, err := s.Totals(t.Context(), "2026-11", []usage.Scope{usage.Global}); !errors.Is(err, usage.ErrUnavailable) {
			t.Errorf("%s: Totals: %v, want ErrUnavailable", name, err)
		}
		if _, err := s.Sweep(t.Context(), time.Now()); !errors.Is(err, usage.ErrUnavailable) {
			t.Errorf("%s: Sweep: %v, want ErrUnavailable", name, err)
		}
	}
}

// TestCheck: Check finds an existing table, names a missing one with
// ErrNoTable, and reports an unreachable endpoint as ErrUnavailable.
func TestCheck(t *testing.T) {
	c := testsvc.DynamoDBClient(t)
	if err := dynamo.Open(c, newTable(t, c)).Check(t.Context()); err != nil {
		t.Errorf("Check(existing table): %v", err)
	}
	err := dynamo.Open(c, "no-such-table").Check(t.Context())
	if !errors.Is(err, dynamo.ErrNoTable) || !strings.Contains(err.Error(), "no-such-table") {
		t.Errorf("Check(missing table) = %v, want ErrNoTable naming it", err)
	}
	unreachable := dynamodb.New(dynamodb.Options{
		Region:           "us-east-1",
		BaseEndpoint:     aws.String("http://127.0.0.1:1"),
		Credentials:      credentials.NewStaticCredentialsProvider("local", "local", ""),
		RetryMaxAttempts: 1,
	})
	if err := dynamo.Open(unreachable, "usage").Check(t.Context()); !errors.Is(err, usage.ErrUnavailable) || errors.Is(err, dynamo.ErrNoTable) {
		t.Errorf("Check(unreachable) = %v, want ErrUnavailable", err)
	}
}

func BenchmarkReserveSettle(b *testing.B) {
	c := testsvc.DynamoDBClient(b)
	storetest.Bench(b, dynamo.Open(c, newTable(b, c)))
}

// TestUnperiodedItems: a table written before charges had periods of their
// own (reservation items and swept markers with one period for every
// scope, no periods list) keeps working after the upgrade: an old lease is
// swept into its month's counters, keyed as before, and its late
// settlement corrects them there.
func TestUnperiodedItems(t *testing.T) {
	c := testsvc.DynamoDBClient(t)
	table := newTable(t, c)
	now := time.Now().Truncate(time.Second)
	s := dynamo.Open(c, table, dynamo.WithClock(func() time.Time { return now }))
	h := fnv.New32a()
	h.Write([]byte("old"))
	expires := now.Add(-time.Minute)
	items := []map[string]types.AttributeValue{
		{ // the reservation, as an older gateway wrote it
			"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("RES#%x", h.Sum32()%16)}, "sk": &types.AttributeValueMemberS{Value: "old"},
			"period": &types.AttributeValueMemberS{Value: "2026-11"}, "amount": &types.AttributeValueMemberN{Value: "1000"},
			"expires": &types.AttributeValueMemberN{Value: fmt.Sprint(expires.Unix())},
			"scopes":  &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberS{Value: "key#k"}}},
			"ttl":     &types.AttributeValueMemberN{Value: fmt.Sprint(now.Add(time.Hour).Unix())},
		},
		{ // its counter, holding it and this month's spend
			"pk": &types.AttributeValueMemberS{Value: "TOT#2026-11"}, "sk": &types.AttributeValueMemberS{Value: "key#k"},
			"committed": &types.AttributeValueMemberN{Value: "6000"}, "spent": &types.AttributeValueMemberN{Value: "5000"},
		},
	}
	for _, it := range items {
		if _, err := c.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	key := usage.Scope{Kind: usage.KindKey, ID: "k"}
	want := func(tot usage.Totals) {
		t.Helper()
		got, err := s.Totals(t.Context(), "2026-11", []usage.Scope{key})
		if err != nil {
			t.Fatal(err)
		}
		if got[key] != tot {
			t.Fatalf("Totals = %+v, want %+v", got[key], tot)
		}
	}
	if n, err := s.Sweep(t.Context(), now); err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1", n, err)
	}
	want(usage.Totals{Spent: 6000, Estimated: 1000})
	r := &usage.Reservation{ID: "old", Amount: 1000, Expires: expires,
		Charges: []usage.Charge{{Scope: key, Period: "2026-11", Limit: 100000}}}
	if ok, err := s.Settle(t.Context(), r, 300); err != nil || !ok {
		t.Fatalf("Settle = %v, %v; want true", ok, err)
	}
	want(usage.Totals{Spent: 5300})
}
