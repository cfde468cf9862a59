package benchkit

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// DeleteTopics deletes topics through client; one that does not exist is not an error.
func DeleteTopics(ctx context.Context, client *kafka.Client, topics ...string) error {
	res, err := client.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: topics})
	if err != nil {
		return fmt.Errorf("delete topics %v: %w", topics, err)
	}
	var errs []error
	for t, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.UnknownTopicOrPartition) {
			errs = append(errs, fmt.Errorf("delete topic %s: %w", t, err))
		}
	}
	return errors.Join(errs...)
}

// DeleteGroups deletes consumer groups that have no members left through client; one that
// does not exist is not an error.
func DeleteGroups(ctx context.Context, client *kafka.Client, groups ...string) error {
	res, err := client.DeleteGroups(ctx, &kafka.DeleteGroupsRequest{GroupIDs: groups})
	if err != nil {
		return fmt.Errorf("delete groups %v: %w", groups, err)
	}
	var errs []error
	for g, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.GroupIdNotFound) {
			errs = append(errs, fmt.Errorf("delete group %s: %w", g, err))
		}
	}
	return errors.Join(errs...)
}
