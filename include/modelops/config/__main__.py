"""`python -m modelops.config`: check the parameters files and print what each dataset can do."""

from modelops.config.settings import main

raise SystemExit(main())
