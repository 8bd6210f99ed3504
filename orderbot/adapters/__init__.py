"""Outside services the core reads through ports: weather warnings (QWeather), carriers, tracking providers."""
