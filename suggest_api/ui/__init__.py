"""The dashboard: static pages under /ui that read only the public /v1 API, with the user's own key."""
