from biobreath.cli import main

raise SystemExit(main())
