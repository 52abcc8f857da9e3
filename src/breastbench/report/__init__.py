"""Reports: tables, figures, explainability and the HTML/Markdown/LaTeX report of a run folder."""
