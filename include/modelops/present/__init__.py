"""Presentation: number formatting, plots and the HTML every report shares."""
