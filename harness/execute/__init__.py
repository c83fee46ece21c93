"""The second step: the selection and its cells (``plan``), then each environment made ready
(``interpreters``, ``environments``, ``images``, ``launch``) and its phases run and watched
(``supervisor``, ``processes``, ``containers``), reusing the records of unchanged cells
(``incremental``); ``golden`` keeps frozen producers."""
