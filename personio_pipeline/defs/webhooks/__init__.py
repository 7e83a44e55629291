"""The sensor that turns Apideck webhook events in the inbox into connection states and syncs."""
