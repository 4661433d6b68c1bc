"""Reading scenario files: one hardened YAML loader, validation with ``file:line`` errors."""
