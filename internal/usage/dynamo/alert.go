package dynamo

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tollgate-gw/tollgate/internal/usage"
)

var _ usage.Alerter = (*Store)(nil)

// prefixAlert is an alert mark's pk: ALERT#<period>, sk
// <kind>#<id>#<threshold>. A mark is one item, written once by a
// conditional PutItem; DynamoDB's TTL deletes it alertRetention after.
const prefixAlert = "ALERT#"

// alertRetention outlives any period an alert is marked for.
const alertRetention = 400 * 24 * time.Hour

// MarkAlert implements [usage.Alerter.MarkAlert]: one conditional PutItem
// (attribute_not_exists), so exactly one process sharing the table sees
// first=true.
func (s *Store) MarkAlert(ctx context.Context, a usage.Alert) (bool, error) {
	if err := a.Validate(); err != nil {
		return false, err
	}
	now := s.now().Unix()
	item := map[string]types.AttributeValue{
		attrPK:      &types.AttributeValueMemberS{Value: prefixAlert + a.Period},
		attrSK:      &types.AttributeValueMemberS{Value: scopeSK(a.Scope) + "#" + a.Threshold},
		attrSettled: num(now),
		attrTTL:     num(now + int64(alertRetention/time.Second)),
	}
	for attempt := 1; ; attempt++ {
		_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                aws.String(s.table),
			Item:                     item,
			ConditionExpression:      aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": attrPK},
		})
		var cf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			return true, nil
		case errors.As(err, &cf):
			return false, nil
		}
		if err := s.backoff(ctx, "mark alert", attempt, err); err != nil {
			return false, err
		}
	}
}
