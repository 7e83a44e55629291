"""Apideck webhooks: signature checks, event parsing, the inbox store and the debounce rule (pure
or plain SQLAlchemy, no Dagster); the ASGI receiver in `receiver.py`; the subscription client in
`subscription.py`. The Dagster sensor that turns the inbox into runs is `defs/webhooks/sensor.py`."""
