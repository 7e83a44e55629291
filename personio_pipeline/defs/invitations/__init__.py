"""The invitations asset and its delivery check, and the sensor that launches the invitation job."""
