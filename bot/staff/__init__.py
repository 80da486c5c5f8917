"""What staff do: the moderators' queue, ticket status changes, privacy export and erasure."""
