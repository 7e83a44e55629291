"""Asset definitions by layer: apideck (raw), org (model), teammeter (store), invitations."""
