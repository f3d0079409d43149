"""Optional integrations for armature, each behind its own pip extra."""
