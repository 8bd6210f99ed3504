from orderbot.cli import main

raise SystemExit(main())
