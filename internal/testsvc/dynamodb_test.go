package testsvc_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tollgate-gw/tollgate/internal/testsvc"
)

func TestDynamoDB(t *testing.T) {
	c := testsvc.DynamoDBClient(t)
	if _, err := c.ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	// A second call shares the process.
	if a, b := testsvc.DynamoDB(t), testsvc.DynamoDB(t); a != b {
		t.Errorf("endpoints %s and %s, want one process", a, b)
	}
}
