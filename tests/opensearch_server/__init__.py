"""An in-process OpenSearch stand-in for tests, validated against the official API specification."""
