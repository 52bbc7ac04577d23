"""UI: what the Model monitor page shows, and the page."""
